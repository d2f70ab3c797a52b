// The Durable Streams HTTP protocol at /v1/stream/<path> (SPEC §3): PUT create (or fork), POST
// append/close, GET catch-up / long-poll / SSE, HEAD, DELETE, OPTIONS (and, from list.ts, GET
// /api/streams: the org's streams). Every request but the CORS preflight is authenticated by the
// one resolver and acts in one organization; a stream is looked up by (org, path), so another
// org's stream is a 404 like one that does not exist. Responses are built here as plain
// Responses: the protocol's headers go on every one of them, errors included.
import { Elysia } from "elysia";
import type { Server } from "bun";
import { optionalPrincipal, requestOrg, type Auth } from "../auth";
import { HttpError, errorBody } from "../http/errors";
import { concat, isJson, isText, jsonArray } from "./content";
import * as h from "./headers";
import * as offsets from "./offsets";
import type { Streams } from "./service";
import { sseBody } from "./sse";
import type { Chunk, StreamRow } from "./storage";
import { tailHeaders } from "./writes";
import type { Subscriptions } from "./subscriptions/manager";
import { CONTROL_PREFIX, control, controlRoute, selfAuthenticated } from "./subscriptions/routes";
import { streamListRoute } from "./list";

export const STREAM_PREFIX = "/v1/stream/";
/** The largest single append; bigger bodies are refused (413) before they are read in full. */
export const APPEND_LIMIT = 16 * 1024 * 1024;

const REQUEST_HEADERS = [
  "authorization", "x-api-key", "x-warren-org", "content-type", "if-none-match",
  "stream-seq", "stream-ttl", "stream-expires-at", "stream-closed", "stream-forked-from", "stream-fork-offset", "stream-fork-sub-offset",
  "producer-id", "producer-epoch", "producer-seq",
].join(", ");
const RESPONSE_HEADERS = [
  "stream-next-offset", "stream-cursor", "stream-up-to-date", "stream-closed", "stream-ttl", "stream-expires-at", "stream-sse-data-encoding",
  "producer-epoch", "producer-seq", "producer-expected-seq", "producer-received-seq", "etag", "location", "content-type", "x-request-id",
].join(", ");

/** On every response: CORS for browser clients (credentials travel as headers, never cookies cross-site) and §12.7's two. */
const COMMON: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": RESPONSE_HEADERS,
  "x-content-type-options": "nosniff",
  "cross-origin-resource-policy": "cross-origin",
};
const PREFLIGHT: Record<string, string> = {
  ...COMMON,
  "access-control-allow-methods": "GET, HEAD, PUT, POST, DELETE, OPTIONS",
  "access-control-allow-headers": REQUEST_HEADERS,
  "access-control-max-age": "86400",
};

/** A list of header names, as a preflight asks for them. */
const HEADER_LIST = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*$/;

/**
 * The preflight allows whatever headers the browser says it will send (a tenant header of the
 * client's, tracing's `traceparent`…): credentials never travel cross-site here — no cookies,
 * no Allow-Credentials — so a header is only what the page could send anyway.
 */
function preflight(request: Request): Record<string, string> {
  const asked = request.headers.get("access-control-request-headers")?.trim();
  if (!asked || asked.length > 4096 || !HEADER_LIST.test(asked)) return PREFLIGHT;
  return { ...PREFLIGHT, "access-control-allow-headers": asked, vary: "Access-Control-Request-Headers" };
}

function respond(status: number, headers: Record<string, string>, body: BodyInit | null = null): Response {
  return new Response(body, { status, headers: { ...COMMON, ...headers } });
}

function failure(e: HttpError): Response {
  return respond(e.status, { "content-type": "application/json", ...e.headers }, JSON.stringify(errorBody(e.code, e.message)));
}

/** Reads an append body up to the limit; the parse hook of these routes, so Elysia never parses it. */
async function rawBody({ request }: { request: Request }): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (Number(declared ?? 0) > APPEND_LIMIT) throw tooLarge();
  // A declared length is already bounded: read it in one go (no stream machinery per request).
  if (declared !== null) return new Uint8Array(await request.arrayBuffer());
  if (!request.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    const part = r.value;
    size += part.byteLength;
    if (size > APPEND_LIMIT) {
      await reader.cancel();
      throw tooLarge();
    }
    parts.push(part);
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
}

const tooLarge = () => new HttpError(413, "payload_too_large", `one append is at most ${APPEND_LIMIT} bytes; split it`);

/** The stream path in the URL, as stored: everything after /v1/stream/, exactly as sent. */
export function streamPath(pathname: string): string {
  const path = pathname.slice(STREAM_PREFIX.length);
  if (!path || path.startsWith("/")) throw new HttpError(400, "invalid_path", "name the stream: /v1/stream/<path>");
  return path;
}

/** Stream-Forked-From names a stream by its URL path (/v1/stream/x) or by the bare path (x). */
const forkSource = (ref: string) => {
  let p = ref;
  if (/^https?:\/\//.test(p)) p = new URL(p).pathname;
  return p.startsWith(STREAM_PREFIX) ? p.slice(STREAM_PREFIX.length) : p.replace(/^\/+/, "");
};

export interface StreamRouteOptions {
  auth: Auth;
  streams: Streams;
  subscriptions: Subscriptions;
  /** The public URL for Location headers; else the request's own origin. */
  publicUrl?: string;
}

export function streamRoutes(opts: StreamRouteOptions) {
  const { auth, streams } = opts;

  async function handle(ctx: { request: Request; server: Server<unknown> | null; set: { status?: number | string; headers: Record<string, unknown> }; body: unknown }) {
    const { request, server, set } = ctx;
    let response: Response;
    try {
      const url = new URL(request.url);
      const body = ctx.body instanceof Uint8Array ? ctx.body : new Uint8Array(0);
      if (url.pathname.startsWith(CONTROL_PREFIX)) {
        response = await controlRequest(ctx, url, body);
        set.status = response.status;
        return response;
      }
      const orgId = await orgOf(ctx);
      const path = streamPath(url.pathname);
      switch (request.method) {
        case "PUT":
          response = await create(orgId, path, request, url, body);
          break;
        case "POST":
          response = await append(orgId, path, request.headers, body);
          break;
        case "DELETE":
          response = await remove(orgId, path);
          break;
        case "HEAD":
          response = head(await streams.get(orgId, path));
          break;
        default:
          response = await read(await streams.get(orgId, path), url, request);
      }
    } catch (e) {
      if (!(e instanceof HttpError)) throw e;
      response = failure(e);
    }
    set.status = response.status;
    return response;
  }

  async function orgOf(ctx: Parameters<typeof handle>[0]): Promise<string> {
    const r = await optionalPrincipal(auth, ctx.request, ctx.server, ctx.set);
    if (!r) throw new HttpError(401, "unauthorized", "send an API key (x-api-key or Authorization: Bearer) or a session");
    return requestOrg(r.principal, ctx.request);
  }

  async function controlRequest(ctx: Parameters<typeof handle>[0], url: URL, body: Uint8Array): Promise<Response> {
    const route = controlRoute(url.pathname);
    if (!route) throw new HttpError(404, "SUBSCRIPTION_NOT_FOUND", "no such control route");
    const orgId = selfAuthenticated(route) ? null : await orgOf(ctx);
    const r = await control(opts.subscriptions, route, ctx.request.method, ctx.request, body, () => orgId!, opts.publicUrl ?? url.origin);
    return respond(r.status, r.headers, r.body);
  }

  async function create(orgId: string, path: string, request: Request, url: URL, body: Uint8Array): Promise<Response> {
    const hd = request.headers;
    const fork = h.fork(hd, forkSource);
    const o = await streams.submit({
      kind: "create",
      orgId,
      path,
      contentType: h.contentType(hd),
      ...h.ttl(hd),
      closed: h.flag(hd, "stream-closed"),
      body,
      fork,
    });
    const headers = { ...o.headers };
    if (o.status === 201) headers["location"] = `${opts.publicUrl ?? url.origin}${url.pathname}`;
    return respond(o.status, headers);
  }

  async function append(orgId: string, path: string, hd: Headers, body: Uint8Array): Promise<Response> {
    const close = h.flag(hd, "stream-closed");
    const producer = h.producer(hd);
    const contentType = h.contentType(hd);
    if (!body.byteLength && !close) throw new HttpError(400, "empty_append", "an append needs a body (or Stream-Closed: true to close the stream)");
    if (body.byteLength && contentType === null) throw new HttpError(400, "content_type_required", "an append needs a Content-Type, the stream's own");
    const o = await streams.submit({ kind: "append", orgId, path, contentType, body, seq: hd.get("stream-seq"), close, producer });
    return respond(o.status, o.headers);
  }

  async function remove(orgId: string, path: string): Promise<Response> {
    const o = await streams.submit({ kind: "delete", orgId, path });
    return respond(o.status, o.headers);
  }

  function head(row: StreamRow): Response {
    return respond(200, { ...described(row), etag: etag(row, "-1", row.tail), "cache-control": "no-store" });
  }

  async function read(row: StreamRow, url: URL, request: Request): Promise<Response> {
    const params = url.searchParams;
    const { raw, after } = h.readOffset(params);
    const live = params.get("live");
    if (live !== null && live !== "long-poll" && live !== "sse") throw new HttpError(400, "invalid_live", "live: long-poll or sse");
    if (live && raw === null) throw new HttpError(400, "offset_required", `live=${live} needs an offset: -1 for the start, now for the tail`);
    streams.clock.touch(row);
    const cursor = params.get("cursor");
    const start = after === "now" ? row.tail : after;

    if (live === "sse") {
      const headers: Record<string, string> = { "content-type": "text/event-stream", "cache-control": "no-cache" };
      if (!isText(row.contentType)) headers["stream-sse-data-encoding"] = "base64";
      return respond(200, headers, sseBody(streams, row, start, cursor));
    }
    if (after === "now" && !live) {
      const headers = { ...tailHeaders(row), "content-type": row.contentType, "stream-up-to-date": "true", "cache-control": "no-store" };
      return respond(200, headers, isJson(row.contentType) ? "[]" : "");
    }

    let chunks: Chunk[];
    if (live === "long-poll" && start >= row.tail && !row.closed) {
      ({ row, chunks } = await poll(row, start));
      if (!chunks.length && !row.closed) return respond(204, { ...pollHeaders(row, start, cursor), "stream-up-to-date": "true" });
    } else chunks = await streams.read(row, start);
    if (!chunks.length && live === "long-poll" && row.closed && start >= row.tail) {
      return respond(204, { ...pollHeaders(row, start, cursor), "stream-up-to-date": "true" });
    }

    // More than one page to the tail: stream the rest from storage, page by page as the client
    // takes it, rather than stop short (another round trip) or hold it all in memory.
    const streaming = chunks.length > 0 && chunks.at(-1)!.end < row.tail;
    const next = streaming ? row.tail : chunks.length ? chunks.at(-1)!.end : row.tail;
    const upToDate = next >= row.tail;
    const tag = etag(row, raw ?? "-1", next, upToDate);
    if (request.headers.get("if-none-match") === tag) return respond(304, { etag: tag });
    const headers: Record<string, string> = {
      "content-type": row.contentType,
      "stream-next-offset": offsets.format(next),
      etag: tag,
      // Authenticated data: browsers may keep it but must revalidate (ETag makes that a 304).
      "cache-control": "private, no-cache",
    };
    if (upToDate) headers["stream-up-to-date"] = "true";
    if (upToDate && row.closed) headers["stream-closed"] = "true";
    if (live === "long-poll") headers["stream-cursor"] = offsets.cursor(cursor);
    if (streaming) return respond(200, headers, catchUp(streams, row, chunks));
    const parts = chunks.map((c) => c.data);
    return respond(200, headers, (isJson(row.contentType) ? jsonArray(parts) : parts.length ? concat(parts) : "") as BodyInit);
  }

  /**
   * A long-poll at the tail: waits until there are bytes after `start`, the stream is closed, or
   * the long-poll time is up. It listens before it reads, so a commit between the two cannot go
   * unnoticed, and a wake that brings nothing for it (another replica's notice, say) waits on.
   */
  async function poll(row: StreamRow, start: number): Promise<{ row: StreamRow; chunks: Chunk[] }> {
    const deadline = Date.now() + streams.longPollMs;
    for (;;) {
      const stop = new AbortController();
      const waiting = streams.live.wait(row.id, Math.max(0, deadline - Date.now()), stop.signal);
      row = await streams.byId(row.id);
      const chunks = await streams.read(row, start);
      if (chunks.length || row.closed) {
        stop.abort();
        return { row, chunks };
      }
      const woke = await waiting;
      if (woke === "timeout") return { row, chunks: [] };
      if (woke && (woke.chunks[0]?.start ?? Infinity) <= start) {
        const fresh = woke.chunks.filter((c) => c.end > start);
        if (fresh.length || woke.closed) return { row: { ...row, tail: woke.tail, closed: woke.closed }, chunks: fresh };
      }
    }
  }

  const handler = (ctx: Parameters<typeof handle>[0]) => handle(ctx);
  return new Elysia()
    .use(streamListRoute(auth, streams))
    .options(`${STREAM_PREFIX}*`, ({ request }) => new Response(null, { status: 204, headers: preflight(request) }))
    .get(`${STREAM_PREFIX}*`, handler as never)
    .head(`${STREAM_PREFIX}*`, handler as never)
    .delete(`${STREAM_PREFIX}*`, handler as never)
    .put(`${STREAM_PREFIX}*`, handler as never, { parse: rawBody as never })
    .post(`${STREAM_PREFIX}*`, handler as never, { parse: rawBody as never });
}

/** The body of a catch-up read from the first page to row.tail; a JSON stream's values as one array. */
function catchUp(streams: Streams, row: StreamRow, first: Chunk[]): ReadableStream<Uint8Array> {
  const json = isJson(row.contentType);
  let page: Chunk[] | null = first;
  let pos = first.at(-1)!.end;
  let opened = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunks = page ?? (await streams.read(row, pos));
      page = null;
      if (!chunks.length) throw new Error("the stream changed under a catch-up read");
      for (const c of chunks) {
        // JSON chunks end in a comma: the first value opens the array, the last comma closes it.
        if (json) {
          controller.enqueue(opened ? COMMA : OPEN);
          opened = true;
          controller.enqueue(c.data.subarray(0, c.data.byteLength - 1));
        } else controller.enqueue(c.data);
        pos = c.end;
      }
      if (pos >= row.tail) {
        if (json) controller.enqueue(CLOSE);
        controller.close();
      }
    },
  });
}

const OPEN = new Uint8Array([0x5b]);
const COMMA = new Uint8Array([0x2c]);
const CLOSE = new Uint8Array([0x5d]);

function pollHeaders(row: StreamRow, at: number, cursor: string | null): Record<string, string> {
  const headers: Record<string, string> = { "stream-next-offset": offsets.format(Math.max(at, 0)), "stream-cursor": offsets.cursor(cursor) };
  if (row.closed && at >= row.tail) headers["stream-closed"] = "true";
  return headers;
}

function described(row: StreamRow): Record<string, string> {
  const headers: Record<string, string> = { ...tailHeaders(row), "content-type": row.contentType };
  if (row.ttlSeconds !== null) headers["stream-ttl"] = String(row.ttlSeconds);
  if (row.expiresAt) headers["stream-expires-at"] = row.expiresAt.toISOString();
  return headers;
}

/** Names the exact bytes of a response: the stream (by id, so a re-created path never matches), the range and closure. */
function etag(row: StreamRow, from: string, to: number, atEnd = true): string {
  return `"${row.id}:${from}:${offsets.format(to)}${row.closed && atEnd ? ":c" : ""}"`;
}
