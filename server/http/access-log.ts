// One JSON log line per request (SPEC §1): method, route pattern, status, ms, user id, request
// id. The route is the pattern (`/api/orgs/:id`), never the raw URL, so query strings and path
// segments carrying credentials cannot reach the log; unmatched paths are redacted.
import { Elysia } from "elysia";
import { randomBytes } from "node:crypto";
import { redact, type Logger } from "../log";

interface RequestInfo {
  id: string;
  start: number;
  userId?: string;
}

const info = new WeakMap<Request, RequestInfo>();

export function requestId(request: Request): string {
  return info.get(request)?.id ?? "unknown";
}

/** Called by the credential resolver so the access log can say who made the request. */
export function noteUser(request: Request, userId: string): void {
  const i = info.get(request);
  if (i) i.userId = userId;
}

export const accessLog = (log: Logger) =>
  new Elysia({ name: "access-log" })
    .onRequest(({ request, set }) => {
      const id = randomBytes(9).toString("base64url");
      info.set(request, { id, start: performance.now() });
      set.headers["x-request-id"] = id;
    })
    .onAfterResponse({ as: "global" }, ({ request, route, set, path }) => {
      const i = info.get(request);
      log.info("request", {
        requestId: i?.id,
        method: request.method,
        route: route || null,
        ...(route ? {} : { path: redact(path) }),
        status: typeof set.status === "number" ? set.status : 200,
        ms: i ? Math.round((performance.now() - i.start) * 100) / 100 : undefined,
        userId: i?.userId ?? null,
      });
    });
