// HTTP and WebSockets to a port a host exposes (`warren host start --expose PORT`), carried over
// one relay stream each with the relay's credit flow control end to end: a slow client slows the
// upstream, nothing piles up. Used by the app origins (server/apps) and by the path route
// (ports.ts). What comes back is an app's content, so it is untrusted: the status and headers are
// checked (a malformed answer is 502 bad_host_response), the host's refusals are told in our
// words, and each caller decides what the response may keep (cookies, active content).
import type { Server, ServerWebSocket } from "bun";
import { HttpError } from "../http/errors";
import { sendableClose, type SocketHandlers } from "../http/sockets";
import { BAD_ANSWER, hostFailure, responseHeaders, validHttpStatus, type HostFailure } from "../../relay/answers";
import type { Head, Open } from "../../relay/codec";
import { RelayError, type Mux, type Stream } from "../../relay/mux";
import type { Caller } from "../../pty/host";

export interface PortRequest {
  mux: Mux;
  caller: Caller;
  port: number;
  /** The path and query the upstream sees. */
  path: string;
  /** The client's headers, already stripped of anything of Warren's. */
  headers: [string, string][];
}

/** What a caller lets through of an upstream response: its headers, as a whole. */
export type HeaderPolicy = (headers: [string, string][]) => [string, string][];

/** Connection-level request headers (RFC 9110 §7.6.1) and framing; fetch on the host sets its own. */
const HOP = new Set(["host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "content-length"]);

/** The client's headers minus hop-by-hop ones and those `drop` names (lower case). */
export function passHeaders(request: Request, drop: (name: string) => boolean): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of request.headers as unknown as Iterable<[string, string]>) {
    const name = k.toLowerCase();
    if (!HOP.has(name) && !drop(name)) out.push([k, v]);
  }
  return out;
}

const failure = (f: HostFailure) => new HttpError(f.status, f.code, f.message);

async function answer(s: Stream): Promise<Head> {
  try {
    return await s.head;
  } catch (e) {
    const r = e as RelayError;
    throw new HttpError(502, r.code ?? "host_unavailable", r.message);
  }
}

function opened(mux: Mux, open: Open): Stream {
  try {
    return mux.open(open);
  } catch (e) {
    if (e instanceof RelayError) throw new HttpError(e.status, "host_unavailable", e.message);
    throw e;
  }
}

/** An HTTP request to the port; the response streams back as the client reads it. */
export async function proxyHttp(request: Request, to: PortRequest, policy: HeaderPolicy): Promise<Response> {
  const s = opened(to.mux, { kind: "http", caller: to.caller, port: to.port, method: request.method, path: to.path, headers: to.headers });
  // A client that goes away frees the stream (and the host's upstream request) at once.
  request.signal.addEventListener("abort", () => s.reset(), { once: true });
  if (request.body) {
    (async () => {
      for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) await s.write(chunk);
      s.end();
    })().catch(() => s.reset());
  } else s.end();
  const head = await answer(s);
  if (head.body !== undefined) {
    s.reset();
    throw failure(head.status >= 400 ? hostFailure(head, { port: to.port }) : BAD_ANSWER);
  }
  const headers = responseHeaders(head.headers);
  if (!headers || !validHttpStatus(head.status)) {
    s.reset();
    throw failure(BAD_ANSWER);
  }
  const noBody = request.method === "HEAD" || head.status === 204 || head.status === 304;
  if (noBody) s.reset();
  return new Response(noBody ? null : body(s), { status: head.status, headers: policy(headers) });
}

function body(s: Stream): ReadableStream<Uint8Array> {
  // Bun's direct stream: each chunk goes straight to the socket's buffer, and write() returns a
  // promise when that buffer is full — so the next read (and the credit it returns) waits for it.
  const source: Bun.DirectUnderlyingSource<Uint8Array> = {
    type: "direct",
    async pull(c) {
      for (let chunk = await s.read(); chunk; chunk = await s.read()) {
        const written = c.write(chunk);
        if (written instanceof Promise) await written;
      }
      c.close();
    },
    cancel: () => s.reset(),
  };
  // With lib.dom loaded, the global ReadableStream's type lacks Bun's "direct" overload.
  const DirectStream = ReadableStream as unknown as new (source: Bun.DirectUnderlyingSource<Uint8Array>) => ReadableStream<Uint8Array>;
  return new DirectStream(source);
}

/** Above this much unsent to the client, stop reading from the host's stream. */
const CLIENT_HIGH_WATER = 1024 * 1024;

/** The protocols a client asked for in Sec-WebSocket-Protocol. */
export const requestedProtocols = (request: Request) =>
  (request.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);

/**
 * A WebSocket to the port: the host's upstream must accept first (HEAD 101), then the client's
 * upgrade completes and messages flow as relay Messages, with relay credit returned only as the
 * client's socket drains. Resolves once the client is upgraded.
 */
export async function proxyWs(server: Server<unknown>, request: Request, to: PortRequest): Promise<void> {
  const protocols = requestedProtocols(request);
  const s = opened(to.mux, { kind: "ws", caller: to.caller, port: to.port, path: to.path, headers: to.headers, protocols });
  const head = await answer(s);
  if (head.status !== 101 || head.body !== undefined) {
    s.reset();
    throw failure(head.status >= 400 ? hostFailure(head, { port: to.port }) : BAD_ANSWER);
  }
  const chosen = head.headers?.find(([k]) => k === "sec-websocket-protocol")?.[1];
  if (chosen !== undefined && !protocols.includes(chosen)) {
    s.reset();
    throw failure(BAD_ANSWER);
  }
  let drained: (() => void) | undefined;
  const data: SocketHandlers = {
    async open(ws) {
      for (let m = await s.readMessage(); m; m = await s.readMessage()) {
        if (m.kind === "close") return ws.close(sendableClose(m.code) ? m.code : 1000, m.reason.slice(0, 120));
        if (m.kind === "text") ws.sendText(m.text);
        else ws.sendBinary(m.bytes);
        if (ws.getBufferedAmount() > CLIENT_HIGH_WATER) await new Promise<void>((r) => (drained = r));
      }
      ws.close(1001, "the host went away");
    },
    message(_ws, m) {
      void s.writeMessage(typeof m === "string" ? { kind: "text", text: m } : { kind: "binary", bytes: m });
    },
    drain() {
      const d = drained;
      drained = undefined;
      d?.();
    },
    close(_ws, code, reason) {
      drained?.();
      void s.writeMessage({ kind: "close", code, reason });
      s.end();
    },
  };
  if (!server.upgrade(request, { headers: chosen ? { "sec-websocket-protocol": chosen } : undefined, data })) {
    s.reset();
    throw new HttpError(400, "invalid_request", "this is not a valid WebSocket upgrade");
  }
}

/** Above this much waiting for a slow client, a forwarded socket is closed (1013, try again later). */
const FORWARD_BACKLOG_LIMIT = 8 * 1024 * 1024;

/**
 * A WebSocket to a host connected to another replica: the client's upgrade completes only once
 * that replica accepted ours (it authorizes the same credential again), then messages are piped
 * both ways. `url` is the same route on the other replica; `headers` what it needs to see.
 */
export async function forwardWs(server: Server<unknown>, request: Request, url: string, headers: Record<string, string>): Promise<void> {
  const protocols = requestedProtocols(request);
  const upstream = new WebSocket(url, { headers, protocols } as unknown as string[]);
  upstream.binaryType = "arraybuffer";
  upstream.onerror = () => {};
  const refusal = await new Promise<number | null>((r) => {
    upstream.onopen = () => r(null);
    upstream.onclose = (e) => r(e.code);
  });
  if (refusal !== null) throw new HttpError(502, "replica_unreachable", "the replica holding this host refused or could not take the connection");
  let client: ServerWebSocket<unknown> | null = null;
  const early: (string | ArrayBuffer)[] = [];
  upstream.onmessage = (e) => {
    if (!client) return void early.push(e.data as string | ArrayBuffer);
    if (client.getBufferedAmount() > FORWARD_BACKLOG_LIMIT) return upstream.close(1013, "the client is reading too slowly");
    if (typeof e.data === "string") client.sendText(e.data);
    else client.sendBinary(new Uint8Array(e.data as ArrayBuffer));
  };
  upstream.onclose = (e) => client?.close(sendableClose(e.code) ? e.code : 1000, e.reason.slice(0, 120));
  const data: SocketHandlers = {
    open(ws) {
      client = ws;
      for (const m of early.splice(0)) typeof m === "string" ? ws.sendText(m) : ws.sendBinary(new Uint8Array(m));
      if (upstream.readyState !== WebSocket.OPEN) ws.close(1001, "the host went away");
    },
    message(_ws, m) {
      if (upstream.readyState === WebSocket.OPEN) upstream.send(m);
    },
    drain() {},
    close(_ws, code, reason) {
      if (upstream.readyState === WebSocket.OPEN) upstream.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, reason.slice(0, 120));
    },
  };
  if (!server.upgrade(request, { headers: upstream.protocol ? { "sec-websocket-protocol": upstream.protocol } : undefined, data })) {
    upstream.close(1000, "the client's upgrade failed");
    throw new HttpError(400, "invalid_request", "this is not a valid WebSocket upgrade");
  }
}
