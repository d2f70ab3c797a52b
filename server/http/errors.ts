// The one error shape, `{"error": {"code", "message"}}`, for every failure on every route.
// Handlers throw HttpError; anything else thrown is a bug, answered 500 with the request id
// (never a stack trace) and logged in full.
import { Elysia } from "elysia";
import { redact, type Logger } from "../log";
import { requestId } from "./access-log";
import { dbFault, faultLogGate, faultLogMessage } from "../db/faults";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string, extra?: Record<string, unknown>) {
  return { error: { code, message, ...extra } };
}

export interface ErrorsOptions {
  log: Logger;
  /** Methods the app serves at a path, to tell 405 from 404. */
  methodsAt(path: string): string[];
}

export const errors = ({ log, methodsAt }: ErrorsOptions) =>
  new Elysia({ name: "errors" }).onError({ as: "global" }, ({ code, error: thrown, set, request, path }) => {
    let error: unknown = thrown;
    set.headers["content-type"] = "application/json";
    set.headers["x-request-id"] = requestId(request);
    // Elysia wraps whatever a parse hook throws in its own ParseError; ours is the cause.
    if (code === "PARSE" && (error as Error).cause instanceof HttpError) error = (error as Error).cause as HttpError;
    if (error instanceof HttpError) {
      set.status = error.status;
      Object.assign(set.headers, error.headers);
      return errorBody(error.code, error.message);
    }
    switch (code) {
      case "NOT_FOUND": {
        const allowed = methodsAt(path);
        if (allowed.includes("WS")) {
          set.status = 426;
          set.headers["upgrade"] = "websocket";
          return errorBody("upgrade_required", "this endpoint speaks WebSocket: connect with a WebSocket client");
        }
        if (allowed.length > 0) {
          set.status = 405;
          set.headers["allow"] = allowed.join(", ");
          return errorBody("method_not_allowed", `${request.method} is not allowed here; use ${allowed.join(" or ")}`);
        }
        if (wantsPage(request, path)) return notFoundPage(set.headers["x-request-id"] as string);
        set.status = 404;
        return errorBody("not_found", "no such route");
      }
      case "PARSE":
        set.status = 400;
        return errorBody("invalid_body", "the request body could not be parsed");
      case "VALIDATION":
        set.status = 400;
        return errorBody("invalid_request", validationMessage(error));
      default: {
        const fault = unavailable(log, set.headers["x-request-id"] as string, error);
        if (fault) {
          set.status = fault.status;
          Object.assign(set.headers, fault.headers);
          return fault.body;
        }
        set.status = 500;
        return internal(log, set.headers["x-request-id"] as string, error);
      }
    }
  });

const gate = faultLogGate();

/**
 * The database is down, restarting or out of disk: not a bug, so 503 (507 for a full disk) with
 * Retry-After instead of 500, and one log line per kind every few seconds rather than one per request.
 */
function unavailable(log: Logger, id: string, error: unknown) {
  const fault = dbFault(error);
  if (!fault) return null;
  const { log: now, suppressed } = gate(fault);
  if (now) log[fault.status === 507 ? "error" : "warn"](faultLogMessage(fault), { requestId: id, reason: redact(fault.reason), ...(suppressed ? { suppressed } : {}) });
  return { status: fault.status, headers: { "retry-after": String(fault.retryAfter) }, body: errorBody(fault.code, fault.message) };
}

/** A person's browser asking for a page (not a script's fetch, not the API): it gets one back. */
const wantsPage = (request: Request, path: string) =>
  request.method === "GET" && !path.startsWith("/api/") && !path.startsWith("/v1/") && (request.headers.get("accept") ?? "").includes("text/html");

const NOT_FOUND_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Not found · Warren</title><link rel="stylesheet" href="/assets/style.css"></head><body><main class="card"><p class="brand">Warren</p><h1>Nothing here</h1><p>This address is not a page of this Warren server. It may have been mistyped, or what it pointed to is gone.</p><p><a href="/">Go to the dashboard</a></p></main></body></html>`;

function notFoundPage(requestId: string): Response {
  return new Response(NOT_FOUND_PAGE, {
    status: 404,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "x-request-id": requestId,
      "content-security-policy": "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  });
}

/** A bug: logged in full with the request id; the client gets the id and nothing else. */
function internal(log: Logger, id: string, error: unknown) {
  log.error("unhandled error", { requestId: id, error: redact(String((error as Error)?.stack ?? error)) });
  return errorBody("internal", `internal error; quote request id ${id} when reporting it`, { requestId: id });
}

/** The same answer as the plugin's, as a Response, for code that answers before routing (app origins). */
export function errorResponse(log: Logger, request: Request, error: unknown): Response {
  const id = requestId(request);
  const headers: Record<string, string> = { "content-type": "application/json", "x-request-id": id };
  if (error instanceof HttpError) return Response.json(errorBody(error.code, error.message), { status: error.status, headers: { ...headers, ...error.headers } });
  const fault = unavailable(log, id, error);
  if (fault) return Response.json(fault.body, { status: fault.status, headers: { ...headers, ...fault.headers } });
  return Response.json(internal(log, id, error), { status: 500, headers });
}

function validationMessage(error: unknown): string {
  const first = (error as { all?: { summary?: string; path?: string; message?: string }[] }).all?.[0];
  if (!first) return "the request is not valid";
  const field = first.path?.replace(/^\//, "").replace(/\//g, ".");
  const where = field ? `${field}: ` : "request body: ";
  return `${where}${first.summary ?? first.message ?? "invalid value"}`.replace(/^(request body: )?root: /, "request body: ");
}
