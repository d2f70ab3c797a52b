// Durable Streams subscriptions (the protocol's reserved __ds/subscriptions API): an org asks to
// be woken — by a signed webhook, or by an event appended to a "wake stream" that workers claim
// — when streams matching a pattern (or listed explicitly) get data it has not acknowledged.
// One wake is outstanding at a time, numbered by a generation; callbacks, acks and releases that
// name an older generation are fenced (409). All state is in the database and moves only by
// conditional updates, so any replica may serve any request; a ticker handles expired leases and
// webhook retries, bounded by MAX_ATTEMPTS consecutive failures until new data arrives.
import { dbFault, faultLogGate } from "../../db/faults";
import { randomBytes } from "node:crypto";
import type { Logger } from "../../log";
import * as offsets from "../offsets";
import type { Streams } from "../service";
import type { Appended } from "../writes";
import { globMatch, relative } from "./glob";
import { SubscriptionKeys } from "./signing";
import type { SubscriptionRow, SubscriptionStore } from "./store";
import { DELIVERY_TIMEOUT_MS, allowedWebhook, post } from "./webhook";

export const DEFAULT_LEASE_MS = 30_000;
const MIN_LEASE_MS = 1000;
const MAX_LEASE_MS = 600_000;
const MAX_ATTEMPTS = 8;
const TICK_MS = 250;
/** How long an org's subscription list is reused on the append path before it is read again. */
const CACHE_MS = 1000;
const BEFORE_FIRST = "-1";

/** A protocol error: `{"error": {code, message, ...extra}}` with the protocol's own codes. */
export class ProtocolError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const notFound = () => new ProtocolError(404, "SUBSCRIPTION_NOT_FOUND", "no such subscription");
const invalid = (m: string) => new ProtocolError(400, "INVALID_REQUEST", m);
const fenced = () => new ProtocolError(409, "FENCED", "this wake is over; a newer generation holds the subscription");

interface Definition {
  type: "webhook" | "pull-wake";
  pattern: string | null;
  streams: string[];
  webhook: string | null;
  wakeStream: string | null;
  leaseTtlMs: number;
  description: string | null;
}

export function parseDefinition(body: unknown): Definition {
  if (!body || typeof body !== "object" || Array.isArray(body)) throw invalid("the body must be a JSON object");
  const b = body as Record<string, unknown>;
  if (b.type !== "webhook" && b.type !== "pull-wake") throw invalid('type must be "webhook" or "pull-wake"');
  const pattern = typeof b.pattern === "string" && b.pattern ? relative(b.pattern) : null;
  const list = b.streams === undefined ? [] : b.streams;
  if (!Array.isArray(list) || list.some((s) => typeof s !== "string" || !s)) throw invalid("streams must be an array of stream paths");
  if (!pattern && !list.length) throw invalid("give a pattern, streams, or both");
  const lease = b.lease_ttl_ms ?? DEFAULT_LEASE_MS;
  if (!Number.isInteger(lease) || (lease as number) < MIN_LEASE_MS || (lease as number) > MAX_LEASE_MS) {
    throw invalid(`lease_ttl_ms must be a whole number from ${MIN_LEASE_MS} to ${MAX_LEASE_MS}`);
  }
  const webhook = (b.webhook as { url?: unknown } | undefined)?.url;
  if (b.type === "webhook" && (typeof webhook !== "string" || !webhook)) throw invalid("a webhook subscription needs webhook.url");
  const wake = typeof b.wake_stream === "string" && b.wake_stream ? relative(b.wake_stream) : null;
  if (b.type === "pull-wake" && !wake) throw invalid("a pull-wake subscription needs wake_stream");
  return {
    type: b.type,
    pattern,
    streams: [...new Set((list as string[]).map(relative))].sort(),
    webhook: b.type === "webhook" ? (webhook as string) : null,
    wakeStream: b.type === "pull-wake" ? wake : null,
    leaseTtlMs: lease as number,
    description: typeof b.description === "string" ? b.description : null,
  };
}

interface Ack {
  path: string;
  offset: string;
}

function parseAcks(body: Record<string, unknown>): Ack[] {
  const acks = body.acks ?? [];
  if (!Array.isArray(acks)) throw invalid("acks must be an array");
  return acks.map((a) => {
    const path = (a as { stream?: unknown; path?: unknown })?.stream ?? (a as { path?: unknown })?.path;
    const offset = (a as { offset?: unknown })?.offset;
    if (typeof path !== "string" || typeof offset !== "string") throw invalid("each ack is {stream, offset}");
    return { path: relative(path), offset };
  });
}

export class Subscriptions {
  readonly keys: SubscriptionKeys;
  private cache = new Map<string, { at: number; subs: Promise<SubscriptionRow[]> }>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private ticking = false;
  private faultLog = faultLogGate(30_000);

  constructor(
    private store: SubscriptionStore,
    private streams: Streams,
    secret: Buffer,
    private allow: string[],
    private log: Logger,
  ) {
    this.keys = new SubscriptionKeys(secret);
  }

  start(): void {
    this.streams.onAppended((appended) => void this.appended(appended).catch((e) => this.log.warn("subscription wake failed", { error: String(e) })));
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  jwksUrl = (base: string) => `${base}/v1/stream/__ds/jwks.json`;

  async put(orgId: string, name: string, body: unknown, baseUrl: string): Promise<{ created: boolean; view: Record<string, unknown> }> {
    const def = parseDefinition(body);
    const config = JSON.stringify(def);
    const existing = await this.store.find(orgId, name);
    if (existing) {
      if (existing.config !== config) throw new ProtocolError(409, "SUBSCRIPTION_ALREADY_EXISTS", "a subscription with this id exists with another definition");
      return { created: false, view: await this.view(existing) };
    }
    if (def.webhook && !allowedWebhook(def.webhook, this.allow)) {
      throw new ProtocolError(400, "WEBHOOK_URL_REJECTED", "this server may not call that webhook host (see warren serve --webhook-allow)");
    }
    // Linked at their current ends: a new subscription is woken for new data, not for history.
    const initial = new Map<string, { explicit: boolean; glob: boolean; ackedOffset: string }>();
    if (def.pattern) {
      for (const s of await this.store.orgStreams(orgId)) {
        if (globMatch(def.pattern, s.path)) initial.set(s.path, { explicit: false, glob: true, ackedOffset: offsets.format(s.tail) });
      }
    }
    for (const path of def.streams) {
      const tail = await this.store.tailOf(orgId, path);
      initial.set(path, { ...(initial.get(path) ?? { glob: false }), explicit: true, ackedOffset: offsets.format(tail ?? 0) });
    }
    const row: SubscriptionRow = {
      id: `sub_${randomBytes(12).toString("base64url")}`,
      orgId,
      name,
      type: def.type,
      pattern: def.pattern,
      webhookUrl: def.webhook,
      wakeStream: def.wakeStream,
      leaseTtlMs: def.leaseTtlMs,
      description: def.description,
      config,
      baseUrl,
      createdAt: new Date(),
      generation: 0,
      wakeId: null,
      snapshot: null,
      holder: null,
      leaseUntil: null,
      attempts: 0,
      deliverAt: null,
    };
    const made = await this.store.create(row, [...initial].map(([path, l]) => ({ subscriptionId: row.id, path, ...l })));
    this.cache.delete(orgId);
    if (!made) return this.put(orgId, name, body, baseUrl);
    return { created: true, view: await this.view(row) };
  }

  async get(orgId: string, name: string): Promise<Record<string, unknown>> {
    return this.view(await this.existing(orgId, name));
  }

  async remove(orgId: string, name: string): Promise<void> {
    await this.store.remove(orgId, name);
    this.cache.delete(orgId);
  }

  async addStreams(orgId: string, name: string, body: Record<string, unknown>): Promise<void> {
    const list = body.streams;
    if (!Array.isArray(list) || !list.length || list.some((s) => typeof s !== "string" || !s)) throw invalid("streams must be a non-empty array of stream paths");
    const sub = await this.existing(orgId, name);
    for (const path of (list as string[]).map(relative)) {
      await this.store.link(sub.id, path, "explicit", offsets.format((await this.store.tailOf(orgId, path)) ?? 0));
    }
    this.cache.delete(orgId);
  }

  async removeStream(orgId: string, name: string, path: string): Promise<void> {
    const sub = await this.existing(orgId, name);
    await this.store.unlinkExplicit(sub.id, relative(path));
    this.cache.delete(orgId);
  }

  async claim(orgId: string, name: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const worker = body.worker;
    if (typeof worker !== "string" || !worker) throw invalid("worker must be a non-empty string");
    let sub = await this.existing(orgId, name);
    if (sub.type !== "pull-wake") throw invalid("only pull-wake subscriptions are claimed");
    for (let attempt = 0; attempt < 3; attempt++) {
      if (sub.holder) throw new ProtocolError(409, "ALREADY_CLAIMED", "another worker holds this wake", { current_holder: sub.holder, generation: sub.generation });
      // Open a wake if none is out; one opened concurrently (by the append itself) serves as well.
      if (!sub.wakeId) await this.wake(sub);
      sub = (await this.store.byId(sub.id))!;
      if (!sub.wakeId) throw new ProtocolError(409, "NO_PENDING_WORK", "nothing new to work on");
      if (sub.holder) continue;
      if (await this.store.claim(sub, worker, new Date(Date.now() + sub.leaseTtlMs))) {
        return {
          wake_id: sub.wakeId,
          generation: sub.generation,
          token: this.keys.token({ org: orgId, sub: sub.id, generation: sub.generation }),
          streams: await this.streamInfo(sub),
          lease_ttl_ms: sub.leaseTtlMs,
        };
      }
      sub = (await this.store.byId(sub.id))!;
    }
    throw new ProtocolError(409, "ALREADY_CLAIMED", "another worker holds this wake", { current_holder: sub.holder, generation: sub.generation });
  }

  /** The webhook callback and the pull-wake ack: acknowledge offsets, and end the wake when done. */
  async acknowledge(name: string, token: string | null, body: Record<string, unknown>, type: "webhook" | "pull-wake"): Promise<{ ok: true; next_wake: boolean }> {
    const sub = await this.fencedSub(name, token, body);
    if (sub.type !== type) throw invalid(`this is a ${sub.type} subscription`);
    const acks = parseAcks(body);
    const links = new Map((await this.store.links(sub)).map((l) => [l.path, l]));
    for (const a of acks) {
      const l = links.get(a.path);
      const tail = offsets.format(l?.tail ?? 0);
      if (!l || a.offset === BEFORE_FIRST || offsets.parse(a.offset) === null || a.offset < l.ackedOffset || a.offset > tail) {
        throw new ProtocolError(409, "INVALID_OFFSET", `cannot acknowledge ${a.path} at ${a.offset}`);
      }
    }
    await this.store.ack(sub.id, acks);
    if (body.done !== true) {
      if (!(await this.store.extendLease(sub, new Date(Date.now() + sub.leaseTtlMs)))) throw fenced();
      return { ok: true, next_wake: false };
    }
    if (!(await this.store.endWake(sub))) throw fenced();
    return { ok: true, next_wake: await this.wake((await this.store.byId(sub.id))!) };
  }

  async release(name: string, token: string | null, body: Record<string, unknown>): Promise<void> {
    const sub = await this.fencedSub(name, token, body);
    if (!(await this.store.endWake(sub))) throw fenced();
    await this.wake((await this.store.byId(sub.id))!);
  }

  jwks() {
    return { keys: [this.keys.jwk] };
  }

  private async existing(orgId: string, name: string): Promise<SubscriptionRow> {
    const sub = await this.store.find(orgId, name);
    if (!sub) throw notFound();
    return sub;
  }

  /** The subscription a token is for, if the token and the body name its current wake. */
  private async fencedSub(name: string, token: string | null, body: Record<string, unknown>): Promise<SubscriptionRow> {
    if (!token) throw new ProtocolError(401, "TOKEN_INVALID", "send the wake's token as Authorization: Bearer <token>");
    const claims = this.keys.verify(token);
    if (claims === "expired") throw new ProtocolError(401, "TOKEN_EXPIRED", "this token has expired");
    if (!claims) throw new ProtocolError(401, "TOKEN_INVALID", "this is not a token for this subscription");
    const sub = await this.store.byId(claims.sub);
    if (!sub || sub.name !== name || sub.orgId !== claims.org) throw new ProtocolError(401, "TOKEN_INVALID", "this is not a token for this subscription");
    if (claims.generation !== sub.generation || body.generation !== sub.generation || body.wake_id !== sub.wakeId || sub.wakeId === null) throw fenced();
    return sub;
  }

  private async view(sub: SubscriptionRow): Promise<Record<string, unknown>> {
    const links = await this.store.links(sub);
    return {
      id: sub.name,
      subscription_id: sub.name,
      type: sub.type,
      ...(sub.pattern ? { pattern: sub.pattern } : {}),
      streams: links.map((l) => ({ path: l.path, link_type: l.explicit ? "explicit" : "glob", acked_offset: l.ackedOffset })),
      ...(sub.webhookUrl ? { webhook: { url: sub.webhookUrl, signing: { alg: "ed25519", kid: this.keys.jwk.kid, jwks_url: this.jwksUrl(sub.baseUrl) } } } : {}),
      ...(sub.wakeStream ? { wake_stream: sub.wakeStream } : {}),
      lease_ttl_ms: sub.leaseTtlMs,
      created_at: sub.createdAt.toISOString(),
      status: sub.attempts >= MAX_ATTEMPTS ? "failed" : "active",
      ...(sub.description !== null ? { description: sub.description } : {}),
    };
  }

  private async streamInfo(sub: SubscriptionRow) {
    return (await this.store.links(sub)).map((l) => {
      const tail = offsets.format(l.tail ?? 0);
      return { path: l.path, link_type: l.explicit ? "explicit" : "glob", acked_offset: l.ackedOffset, tail_offset: tail, has_pending: tail > l.ackedOffset };
    });
  }

  private subsOf(orgId: string): Promise<SubscriptionRow[]> {
    const c = this.cache.get(orgId);
    if (c && Date.now() - c.at < CACHE_MS) return c.subs;
    const subs = this.store.ofOrg(orgId);
    this.cache.set(orgId, { at: Date.now(), subs });
    subs.catch(() => this.cache.delete(orgId));
    return subs;
  }

  private async appended(list: Appended[]): Promise<void> {
    for (const { orgId, path } of list) {
      for (const sub of await this.subsOf(orgId)) {
        if (path === sub.wakeStream) continue;
        if (sub.pattern && globMatch(sub.pattern, path)) await this.store.link(sub.id, path, "glob", BEFORE_FIRST).catch(() => {});
        else if (!sub.pattern || !(await this.store.links(sub)).some((l) => l.path === path)) continue;
        const fresh = await this.store.byId(sub.id);
        if (fresh) await this.wake(fresh);
      }
    }
  }

  /** Opens a wake if none is outstanding and something is unacknowledged; true when it did. */
  private async wake(sub: SubscriptionRow): Promise<boolean> {
    if (sub.wakeId || sub.holder) return false;
    const info = await this.streamInfo(sub);
    const pending = info.filter((s) => s.has_pending);
    if (!pending.length) return false;
    const now = Date.now();
    const wakeId = `w_${randomBytes(12).toString("hex")}`;
    const webhook = sub.type === "webhook";
    // After repeated failures a webhook is tried once per new wake, not retried on a timer.
    const set = {
      wakeId,
      snapshot: JSON.stringify(Object.fromEntries(info.map((s) => [s.path, s.tail_offset]))),
      leaseUntil: webhook ? new Date(now + sub.leaseTtlMs) : null,
      deliverAt: webhook ? new Date(now + DELIVERY_TIMEOUT_MS) : null,
    };
    if (!(await this.store.startWake(sub, set))) return false;
    const woken = { ...sub, ...set, generation: sub.generation + 1 };
    if (webhook) void this.deliver(woken);
    else await this.wakeEvent(woken, pending[0]!.path);
    return true;
  }

  private async wakeEvent(sub: SubscriptionRow, stream: string): Promise<void> {
    const event = { type: "wake", subscription_id: sub.name, stream, generation: sub.generation, ts: Date.now() };
    await this.streams
      .submit({ kind: "append", orgId: sub.orgId, path: sub.wakeStream!, contentType: "application/json", body: Buffer.from(JSON.stringify(event)), seq: null, close: false, producer: null })
      .catch((e) => this.log.warn("wake stream append failed", { subscription: sub.id, error: String((e as Error).message) }));
  }

  private async deliver(sub: SubscriptionRow): Promise<void> {
    const url = allowedWebhook(sub.webhookUrl!, this.allow);
    const body = JSON.stringify({
      subscription_id: sub.name,
      wake_id: sub.wakeId,
      generation: sub.generation,
      streams: await this.streamInfo(sub),
      callback_url: `${sub.baseUrl}/v1/stream/__ds/subscriptions/${encodeURIComponent(sub.name)}/callback`,
      callback_token: this.keys.token({ org: sub.orgId, sub: sub.id, generation: sub.generation }),
    });
    let reply: Record<string, unknown>;
    try {
      if (!url) throw new Error("webhook host no longer allowed");
      reply = await post(url, body, this.keys.signature(body));
    } catch (e) {
      const attempts = sub.attempts + 1;
      const retryAt = attempts >= MAX_ATTEMPTS ? null : new Date(Date.now() + backoff(attempts));
      this.log.warn("webhook delivery failed", { subscription: sub.id, attempts, error: String((e as Error).message) });
      await this.store.delivered(sub, false, retryAt);
      return;
    }
    await this.store.delivered(sub, true, null);
    if (reply.done === true) {
      // The receiver did the work in the request: acknowledge everything the wake showed it.
      const snapshot = JSON.parse(sub.snapshot ?? "{}") as Record<string, string>;
      const current = (await this.store.byId(sub.id))!;
      if (current.generation !== sub.generation || current.wakeId !== sub.wakeId) return;
      await this.store.ack(sub.id, Object.entries(snapshot).map(([path, offset]) => ({ path, offset })));
      if (await this.store.endWake(current)) await this.wake((await this.store.byId(sub.id))!);
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = new Date();
      for (const sub of await this.store.due(now)) {
        if (sub.leaseUntil && sub.leaseUntil <= now) {
          // The lease ran out without a done: the wake ends and, if work remains, a new one starts.
          if ((await this.store.endWake(sub)) && sub.attempts < MAX_ATTEMPTS) await this.wake((await this.store.byId(sub.id))!);
        } else if (sub.deliverAt && sub.deliverAt <= now && sub.wakeId) {
          if (await this.store.takeDelivery(sub, new Date(Date.now() + DELIVERY_TIMEOUT_MS))) void this.deliver((await this.store.byId(sub.id))!);
        }
      }
    } catch (e) {
      // Every 250 ms while the database is down: one line every 30 s says so.
      const fault = dbFault(e);
      if (!fault || this.faultLog(fault).log) this.log.warn("subscription tick failed", { error: String(e) });
    } finally {
      this.ticking = false;
    }
  }
}

function backoff(attempts: number): number {
  const base = Math.min(1000 * 2 ** (attempts - 1), 60_000);
  return base * (0.8 + Math.random() * 0.4);
}
