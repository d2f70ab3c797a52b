// One JSON log line per request (SPEC §1): method, route pattern, status, ms, user id. The route
// is the pattern (`/api/orgs/:id`), never the raw URL, so query strings and path segments
// carrying credentials cannot reach the log. An unmatched path is logged by its shape only: its
// first segment when that is one of our routes' (`/pair/…`), else nothing of it (`/…`) — any
// segment could be a token someone pasted into the wrong URL.
// This runs on every request, so it is kept lean (measured in bench/http.ts): the clock starts
// in a `derive`, not an `onRequest` hook (which would switch off Bun's native routing for every
// route), and a request id is made only when something asks for it (an error body), from a
// per-process random prefix and a counter rather than fresh random bytes.
import { Elysia } from "elysia";
import { randomBytes } from "node:crypto";
import type { Logger } from "../log";
import { httpRequest } from "../metrics";

interface RequestInfo {
  start: number;
  id?: string;
  userId?: string;
}

const info = new WeakMap<Request, RequestInfo>();
const prefix = randomBytes(6).toString("base64url");
let counter = 0;

/** The request's id, made on first use; error bodies and the log line carry it. */
export function requestId(request: Request): string {
  let i = info.get(request);
  if (!i) info.set(request, (i = { start: performance.now() }));
  return (i.id ??= `${prefix}-${(++counter).toString(36)}`);
}

/** Called by the credential resolver so the access log can say who made the request. */
export function noteUser(request: Request, userId: string): void {
  const i = info.get(request);
  if (i) i.userId = userId;
}

/** Starts the clock for a request answered before routing (an app origin's). */
export function noteStart(request: Request): void {
  if (!info.has(request)) info.set(request, { start: performance.now() });
}

/** `/pair/<token>` → `/pair/…`: what of an unmatched path may be logged. */
export function pathShape(path: string, firstSegments: Set<string>): string {
  const [, first = "", ...rest] = path.split("/");
  const kept = firstSegments.has(first) ? `/${first}` : "";
  return rest.length > 0 || !kept ? `${kept}/…` : kept;
}

/** Probes, asked every few seconds by load balancers: their lines are debug, unless they fail. */
const QUIET = new Set(["/healthz", "/metrics"]);

function line(log: Logger, request: Request, status: number, where: Record<string, unknown>): void {
  const i = info.get(request);
  const ms = i ? performance.now() - i.start : 0;
  httpRequest((where.route as string | null) ?? "(unmatched)", request.method, status, ms / 1000);
  const level = status < 400 && QUIET.has(where.route as string) ? "debug" : "info";
  if (!log.enabled(level)) return;
  log[level]("request", {
    method: request.method,
    ...where,
    status,
    ms: i ? Math.round(ms * 100) / 100 : null,
    userId: i?.userId ?? null,
    ...(i?.id ? { requestId: i.id } : {}),
  });
}

/** The line for a request an app's origin answered (before routing, so no hook of Elysia's logs it). */
export function logAppRequest(log: Logger, request: Request, label: string, status: number): void {
  line(log, request, status, { route: "(app)", app: label });
}

/** `firstSegments()`: the first path segments of the app's routes (asked lazily, once they exist). */
export const accessLog = (log: Logger, firstSegments: () => Set<string>) =>
  new Elysia({ name: "access-log" })
    .derive({ as: "global" }, ({ request }) => {
      if (!info.has(request)) info.set(request, { start: performance.now() });
      return {};
    })
    .onAfterResponse({ as: "global" }, ({ request, route, set, path }) =>
      line(log, request, typeof set.status === "number" ? set.status : 200, route ? { route } : { route: null, path: pathShape(path, firstSegments()) }),
    );
