// The hosts connected to this server process, and their directory rows (SPEC §4).
// Registration is last-writer-wins by epoch: the newest connection for a host becomes current
// and the older socket is closed; when a socket ends it unregisters only if it is still the
// current one (in memory) and only rows with its epoch (in the database). Heartbeats every
// pingMs; three unanswered in a row and the connection is dropped. A host must send a fresh JWT
// (TOKEN) before its current one expires, or it is dropped too.
import { FRAME, INITIAL_WINDOW, type Hello } from "../../relay/codec";
import { Mux, type Transport } from "../../relay/mux";
import { newId } from "../auth/tokens";
import type { Logger } from "../log";
import type { HostStore } from "./store";
import type { Events } from "../events";
import type { Audit, Client } from "../audit";
import { hostsOnline, relayMeter, relayStreams } from "../metrics";

export const CLOSE_HOST = {
  /** The server is stopping: reconnect at once (to another replica, or this one restarted). */
  GOING_AWAY: 1001,
  /** The host broke the relay protocol. */
  PROTOCOL: 4400,
  /** The host's token expired without a refresh, or the credential behind it was revoked. */
  EXPIRED: 4401,
  /** Three heartbeats went unanswered. */
  TIMEOUT: 4408,
  /** Another connection registered the same host: this one lost. Do not reconnect. */
  REPLACED: 4409,
  /** An owner or admin removed the host from its organization. Do not reconnect. */
  REMOVED: 4410,
} as const;

const MISSES_ALLOWED = 3;
/** A host's terminal-list notices are coalesced over this long, and an org's host-list notices too. */
const CHANGED_EVERY_MS = 250;
/**
 * How often each live host's token is put through the resolver again, so that revoking the key
 * or session it came from (or removing its user from the org) ends the connection within
 * SPEC §2.4 rule 5's 5 seconds (this, plus the resolver's 2 s cache), not at the next refresh.
 */
const RECHECK_MS = 2_000;
/** Token rechecks in flight at once (recheckAll). */
const RECHECKS_AT_ONCE = 4;
/**
 * On shutdown, hosts are asked to spread their reconnects over 50 ms per host held (200 hosts:
 * 10 s, ≈ 20 registrations a second, a fraction of what one core registers — docs/scale.md),
 * at least 1 s, at most 30 s (600 hosts and more: ≈ hosts / 30 a second).
 */
const RECONNECT_SPREAD_PER_HOST_MS = 50;
const RECONNECT_SPREAD_MIN_MS = 1_000;
const RECONNECT_SPREAD_MAX_MS = 30_000;

export interface HostLink {
  id: string;
  orgId: string;
  /** The name it is listed under (the one it asked for, suffixed, or renamed since). */
  name: string;
  /** The name in its JWT, which every refreshed token must carry too. */
  tokenName: string;
  userId: string;
  version: string;
  platform: string;
  epoch: number;
  connectedAt: Date;
  expiresAt: Date;
  /** The host's current JWT (the one it connected with, or its latest refresh). */
  token: string;
  /** Where it dialled from, for the audit log. */
  client: Client;
  mux: Mux;
  missed: number;
  /** Set while a CHANGED notice waits to go out. */
  changeTimer?: ReturnType<typeof setTimeout>;
  close(code: number, reason: string): void;
}

export interface Connecting {
  orgId: string;
  /** The name it will be listed under (store.claim). */
  name: string;
  /** The name its JWT carries. */
  tokenName: string;
  /** The agent's own id (x-warren-host-instance), when it sends one. */
  instance: string | null;
  /** It did not choose its name (x-warren-host-name: default): a clash gets a suffix. */
  autoName: boolean;
  userId: string;
  version: string;
  platform: string;
  /** The ports it exposes, comma-separated (checked where the header was read). */
  ports: string;
  expiresAt: Date;
  token: string;
  /** Where it dialled from, for the audit log. */
  client: Client;
}

export class Hub {
  private links = new Map<string, HostLink>();
  private timer: ReturnType<typeof setInterval>;
  private recheckTimer: ReturnType<typeof setInterval>;
  /** Set once the server is shutting down: relayed clients get 1001 (come back), not 4503. */
  stopping = false;
  /**
   * This process in the directory: the URL other replicas reach it by (peer.ts). Set by the
   * server once it listens (--replica-url, else its own address).
   */
  replica = "";

  constructor(
    private store: HostStore,
    private log: Logger,
    readonly pingMs: number,
    private events: Events,
    private audit: Audit,
  ) {
    this.timer = setInterval(() => this.heartbeat(), pingMs);
    this.timer.unref();
    this.recheckTimer = setInterval(() => this.recheckAll(), RECHECK_MS);
    this.recheckTimer.unref();
    this.unmeter = [hostsOnline(() => this.links.size), relayStreams(() => [...this.links.values()].reduce((n, l) => n + l.mux.size, 0))];
  }

  private unmeter: (() => void)[];

  /** A new connection: it becomes the host's current one. Returns its link (not yet greeted). */
  async connect(c: Connecting, transport: Transport, close: (code: number, reason: string) => void): Promise<HostLink> {
    const { id, epoch, name } = await this.store.register({ id: newId("host"), orgId: c.orgId, name: c.name, version: c.version, platform: c.platform, ports: c.ports, createdBy: c.userId, replica: this.replica, instance: c.instance }, new Date());
    const link: HostLink = {
      ...c,
      name,
      id,
      epoch,
      connectedAt: new Date(),
      missed: 0,
      close,
      mux: new Mux(transport, {
        side: "server",
        meter: relayMeter,
        onControl: (f) => this.control(link, f.type, f.payload),
        onError: (message) => close(CLOSE_HOST.PROTOCOL, message),
      }),
    };
    const previous = this.links.get(id);
    if (!previous || previous.epoch < epoch) {
      this.links.set(id, link);
      previous?.close(CLOSE_HOST.REPLACED, "another connection registered this host");
    } else {
      // A newer connection got in first while we were registering: this one is the stale one.
      close(CLOSE_HOST.REPLACED, "another connection registered this host");
    }
    const hello: Hello & { orgId: string } = { hostId: id, name, epoch, pingIntervalMs: this.pingMs, window: INITIAL_WINDOW, orgId: c.orgId, changes: true };
    link.mux.control(FRAME.HELLO, hello);
    this.changed(c.orgId);
    this.log.info("host connected", { host: id, name, org: c.orgId, epoch, version: c.version, platform: c.platform });
    this.audit.record({ action: "host.connect", actor: { kind: "host", id, user: c.userId }, org: c.orgId, target: { type: "host", id, label: name }, client: c.client });
    return link;
  }

  /** The socket of `link` ended. A stale link never unregisters its successor. */
  async disconnected(link: HostLink, code: number): Promise<void> {
    link.mux.closeAll();
    if (this.links.get(link.id) !== link) return;
    this.links.delete(link.id);
    this.log.info("host disconnected", { host: link.id, name: link.name, epoch: link.epoch, code });
    this.audit.record({ action: "host.disconnect", actor: { kind: "host", id: link.id, user: link.userId }, org: link.orgId, target: { type: "host", id: link.id, label: link.name }, detail: { code }, client: link.client });
    await this.store.offline(link.id, link.epoch, new Date()).catch((e) => this.log.error("marking a host offline failed", { error: String(e) }));
    this.changed(link.orgId);
  }

  /** An owner or admin removed the host: its agent is told (and stops), then the row goes. */
  async remove(orgId: string, id: string): Promise<void> {
    const link = this.links.get(id);
    if (link) {
      this.links.delete(id);
      link.close(CLOSE_HOST.REMOVED, "this host was removed from its organization");
      link.mux.closeAll();
    }
    await this.store.remove(orgId, id);
    this.changed(orgId);
    this.log.info("host removed", { host: id, org: orgId });
  }

  /** Orgs whose host-list notice went out less than CHANGED_EVERY_MS ago; `again`: another is due after. */
  private hostNotices = new Map<string, { again: boolean }>();

  /**
   * An org's host list changed (connected, gone, renamed, removed): live dashboards refetch it.
   * The first notice goes at once, the rest of a burst as one at the end: after a restart 200
   * hosts reconnecting would otherwise make every open dashboard refetch the list 200 times (and,
   * on Postgres, cost a NOTIFY each).
   */
  changed(orgId: string): void {
    const pending = this.hostNotices.get(orgId);
    if (pending) return void (pending.again = true);
    this.events.publish({ topic: "hosts", org: orgId });
    const entry = { again: false };
    this.hostNotices.set(orgId, entry);
    setTimeout(() => {
      this.hostNotices.delete(orgId);
      if (entry.again && !this.stopping) this.changed(orgId);
    }, CHANGED_EVERY_MS).unref();
  }

  /** The live link of a host connected to this process. */
  link(id: string): HostLink | undefined {
    return this.links.get(id);
  }

  /** Server shutdown: every host is told to reconnect (GOAWAY), then its socket closes. */
  shutdown(): void {
    this.stopping = true;
    for (const f of this.unmeter) f();
    clearInterval(this.timer);
    clearInterval(this.recheckTimer);
    // Every host hears this at once: ask them to spread their reconnects (relay/agent.ts) so
    // the next server registers them at ≈ 20 a second, not all in the same second.
    const reconnectWithinMs = Math.min(RECONNECT_SPREAD_MAX_MS, Math.max(RECONNECT_SPREAD_MIN_MS, this.links.size * RECONNECT_SPREAD_PER_HOST_MS));
    for (const link of this.links.values()) {
      link.mux.control(FRAME.GOAWAY, { reason: "server shutting down", reconnectWithinMs });
      link.close(CLOSE_HOST.GOING_AWAY, "server shutting down");
      // Relayed clients learn now (1001, attach again), not when the close event comes round.
      link.mux.closeAll();
    }
  }

  /** A refreshed token for `link`, already verified through the resolver by the caller. */
  refreshed(link: HostLink, token: string, expiresAt: Date): void {
    if (expiresAt > link.expiresAt) {
      link.expiresAt = expiresAt;
      link.token = token;
    }
    this.log.info("host token refreshed", { host: link.id, epoch: link.epoch, until: link.expiresAt.toISOString() });
  }

  private control(link: HostLink, type: number, payload: Uint8Array): void {
    if (type === FRAME.PONG) {
      link.missed = 0;
      this.store
        .seen(link.id, link.epoch, new Date())
        .then(async (current) => {
          // Removed (on any replica), or taken over by a newer connection elsewhere: this link is done.
          if (current || this.links.get(link.id) !== link) return;
          if (await this.store.exists(link.id)) link.close(CLOSE_HOST.REPLACED, "another connection registered this host");
          else link.close(CLOSE_HOST.REMOVED, "this host was removed from its organization");
        })
        .catch((e) => this.log.error("host heartbeat write failed", { error: String(e) }));
    } else if (type === FRAME.TOKEN) {
      this.onToken?.(link, new TextDecoder().decode(payload));
    } else if (type === FRAME.CHANGED) {
      // At most one notice per link per CHANGED_EVERY_MS (the last one is never lost), so a
      // chatty host cannot flood every dashboard of its org.
      if (link.changeTimer) return;
      link.changeTimer = setTimeout(() => {
        link.changeTimer = undefined;
        this.events.publish({ topic: "terminals", org: link.orgId });
      }, CHANGED_EVERY_MS);
    }
  }

  /** Set by the route that owns the resolver: verifies a TOKEN frame's JWT. */
  onToken?: (link: HostLink, token: string) => void;
  /** Set by the route that owns the resolver: is this link's token still good? */
  stillValid?: (link: HostLink) => Promise<boolean>;

  /** Set while a round of rechecks runs. */
  private rechecking = false;

  /**
   * Checks the links a few at a time, each started on a turn of the event loop of its own.
   * Started all at once, 200 hosts' checks (a JWT verification and a few reads each, the
   * resolver's cache having just expired) ran back to back on SQLite, where reads are
   * synchronous, and on Postgres queued ahead of every other query for the pool; either way
   * /healthz and relayed keystrokes waited up to ~100 ms every 2 s. At RECHECKS_AT_ONCE, a round
   * of 200 takes well under the 2 s; a round still running when the next is due makes it skip.
   */
  private async recheckAll(): Promise<void> {
    if (this.stopping || !this.stillValid || this.rechecking) return;
    this.rechecking = true;
    const valid = this.stillValid;
    const queue = [...this.links.values()];
    const checker = async () => {
      for (let link = queue.shift(); link; link = queue.shift()) {
        await new Promise<void>((r) => setImmediate(r));
        if (this.stopping) return;
        if (this.links.get(link.id) !== link) continue;
        const ok = await valid(link).catch(() => true);
        if (!ok && this.links.get(link.id) === link) link.close(CLOSE_HOST.EXPIRED, "the credential this host connected with was revoked");
      }
    };
    try {
      await Promise.all(Array.from({ length: RECHECKS_AT_ONCE }, checker));
    } finally {
      this.rechecking = false;
    }
  }

  private heartbeat(): void {
    if (this.stopping) return;
    const now = Date.now();
    for (const link of this.links.values()) {
      if (link.expiresAt.getTime() <= now) link.close(CLOSE_HOST.EXPIRED, "the host's token expired; it must refresh it before expiry");
      else if (link.missed >= MISSES_ALLOWED) link.close(CLOSE_HOST.TIMEOUT, `no answer to ${MISSES_ALLOWED} heartbeats`);
      else {
        link.missed++;
        link.mux.control(FRAME.PING, new Uint8Array(8));
      }
    }
  }
}
