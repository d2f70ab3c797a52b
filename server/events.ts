// The dashboard's live channel: GET /api/events, a Server-Sent Events stream of "something
// changed" notices — a topic (hosts, terminals, keys, members, sessions) and nothing else, no
// ids or names — to every signed-in caller who may see it (a member of the org it happened in,
// or the user whose sessions changed). The page refetches that section through the same API it
// loaded it with, so authorization stays where it already is and a notice leaks nothing.
//
// Why SSE and not a WebSocket or one of Warren's own streams: it is one-way, goes through every
// proxy that carries the dashboard, and EventSource reconnects by itself; a durable stream would
// store notices nobody needs after a second. Replicas on one Postgres hear each other through
// LISTEN/NOTIFY, so a host connecting to one replica updates a dashboard served by another.
//
// The connection is held to its credential: it is resolved again every RECHECK_MS, and a revoked
// session or a removed membership ends it (or stops its notices for that org) within seconds.
import { randomBytes } from "node:crypto";
import { Elysia } from "elysia";
import { requestIp, type Auth } from "./auth/authn";
import type { Principal } from "./auth";
import { HttpError } from "./http/errors";
import type { Db } from "./db";
import type { Logger } from "./log";

export type Topic = "hosts" | "terminals" | "keys" | "members" | "sessions";
/** What changed and who may hear of it: the members of `org`, or the user `user`. */
export type Change = { topic: Topic; org: string } | { topic: Topic; user: string };

const TOPICS = new Set<Topic>(["hosts", "terminals", "keys", "members", "sessions"]);
const CHANNEL = "warren_events";
const REPLICA = randomBytes(6).toString("base64url");
/** A comment line this often keeps proxies from timing the stream out. */
const HEARTBEAT_MS = 20_000;
const RECHECK_MS = 3_000;
/** A caller who does not read (its queue is this far behind) is dropped, not buffered for. */
const MAX_QUEUED = 64 * 1024;
/** Connections one user may hold open at once (tabs, devices); the oldest is closed beyond it. */
const PER_USER = 16;

export class Events {
  private listeners = new Set<(c: Change) => void>();
  private notify: ((payload: string) => Promise<unknown>) | null = null;
  private unlisten: (() => Promise<void>) | null = null;

  constructor(private log: Logger) {}

  /** On Postgres, hears other replicas' changes and tells them ours. */
  async start(db: Db): Promise<void> {
    if (db.dialect !== "pg") return;
    const sql = db.client;
    // Bun.SQL reconnects the LISTEN connection by itself after Postgres restarts and calls the
    // third callback after every (re)subscription. Notices sent while it was down are lost, so
    // after a reconnect every open stream is ended: EventSource comes back by itself and the page
    // refetches everything, as after any dropped connection.
    let subscribed = false;
    const sub = await sql.listen(
      CHANNEL,
      (payload: string) => {
        const at = payload.indexOf(":");
        if (payload.slice(0, at) === REPLICA) return;
        const change = parse(payload.slice(at + 1));
        if (change) this.deliver(change);
      },
      () => {
        if (subscribed) {
          this.log.info("dashboard notices from other replicas are back (the database connection was restored); open dashboards reload", { dashboards: this.held.size });
          this.closing();
        }
        subscribed = true;
      },
    );
    this.unlisten = () => sub.unlisten();
    this.notify = (payload) => sql`SELECT pg_notify(${CHANNEL}, ${payload})`;
  }

  /** Server shutdown: every open stream ends now (EventSource comes back by itself), so none holds the drain open. */
  closing(): void {
    for (const end of [...this.held]) end();
  }

  async stop(): Promise<void> {
    await this.unlisten?.().catch(() => {});
  }

  /** The open /api/events streams, by how to end each. */
  readonly held = new Set<() => void>();

  /** Something changed: tell this replica's listeners now, and the others through the database. */
  publish(change: Change): void {
    this.deliver(change);
    this.notify?.(`${REPLICA}:${JSON.stringify(change)}`).catch((e) => this.log.warn("announcing a change to other replicas failed", { error: String(e) }));
  }

  subscribe(listener: (c: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private deliver(change: Change): void {
    for (const l of this.listeners) l(change);
  }
}

function parse(text: string): Change | null {
  try {
    const c = JSON.parse(text) as Record<string, unknown>;
    if (!TOPICS.has(c.topic as Topic)) return null;
    if (typeof c.org === "string") return { topic: c.topic as Topic, org: c.org };
    if (typeof c.user === "string") return { topic: c.topic as Topic, user: c.user };
  } catch {
    // Not ours.
  }
  return null;
}

const mayHear = (p: Principal, c: Change) => ("org" in c ? !!p.roles[c.org] : c.user === p.userId);

export const eventRoutes = (auth: Auth, events: Events) => {
  const open = new Map<string, Set<() => void>>();
  return new Elysia().get("/api/events", async ({ request, server }) => {
    const ip = () => requestIp(auth, request, server);
    const resolved = await auth.resolver.resolve(request, ip);
    if (!resolved) throw new HttpError(401, "unauthorized", "sign in first");
    let principal = resolved.principal;
    const enc = new TextEncoder();
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const send = (text: string) => {
          if ((controller.desiredSize ?? 0) < -MAX_QUEUED) return stop();
          try {
            controller.enqueue(enc.encode(text));
          } catch {
            stop();
          }
        };
        const unsubscribe = events.subscribe((c) => mayHear(principal, c) && send(`event: change\ndata: {"topic":"${c.topic}"}\n\n`));
        const heartbeat = setInterval(() => send(": ping\n\n"), HEARTBEAT_MS);
        const recheck = setInterval(async () => {
          // A refusal (signed out, revoked, expired) ends the stream; a database hiccup does not.
          const again = await auth.resolver.resolve(request, ip).catch((e) => (e instanceof HttpError && e.status < 500 ? null : undefined));
          if (again === null) stop();
          else if (again) principal = again.principal;
        }, RECHECK_MS);
        const mine = open.get(principal.userId) ?? new Set();
        open.set(principal.userId, mine);
        let stopped = false;
        stop = () => {
          if (stopped) return;
          stopped = true;
          unsubscribe();
          clearInterval(heartbeat);
          clearInterval(recheck);
          mine.delete(stop);
          events.held.delete(stop);
          if (mine.size === 0) open.delete(principal.userId);
          try {
            controller.close();
          } catch {
            // Already closed by the client going away.
          }
        };
        if (mine.size >= PER_USER) [...mine][0]!();
        mine.add(stop);
        events.held.add(stop);
        // The client may reconnect with a fresh load of everything; "ready" says when to.
        send(`retry: 2000\nevent: ready\ndata: {}\n\n`);
      },
      cancel() {
        stop();
      },
    });
    request.signal.addEventListener("abort", () => stop());
    return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-store", "x-accel-buffering": "no" } });
  });
};
