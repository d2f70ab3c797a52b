// /api/hosts/:hostId/ports/:port/… (SPEC §4): HTTP to a port a host exposes on its own loopback
// (`warren host start --expose PORT`), streamed both ways through one relay stream each, with
// the relay's credit flow control end to end: a slow client slows the upstream, nothing piles
// up. The host checks the port against its --expose list; it never sees the client's
// credential or cookie — those headers stop here.
import { Elysia } from "elysia";
import { authenticated, type Auth } from "../auth";
import { HttpError } from "../http/errors";
import type { Server, ServerWebSocket } from "bun";
import type { Head, Open } from "../../relay/codec";
import type { Mux, Stream } from "../../relay/mux";
import type { Directory } from "./directory";
import { forwardHttp } from "./peer";

/** Never forwarded: our credentials, and hop-by-hop headers (RFC 9110 §7.6.1). */
const DROP = new Set(["authorization", "cookie", "x-api-key", "x-warren-org", "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "content-length"]);
const PATH = /^\/api\/hosts\/[^/]+\/ports\/[^/]+(\/.*)?$/;

/** Close codes a server may not send (reserved for "none given", "abnormal", "TLS"). */
const RESERVED_CLOSE = new Set([1005, 1006, 1015]);
/** Above this much unsent to the client, stop reading from the host's stream. */
const CLIENT_HIGH_WATER = 1024 * 1024;

/**
 * A WebSocket to an exposed port: the host's upstream must accept first (HEAD 101), then the
 * client's upgrade completes and messages flow as relay Messages, with relay credit returned
 * only as the client's socket drains.
 */
async function upgrade(server: Server<unknown>, request: Request, mux: Mux, open: Extract<Open, { kind: "ws" }>): Promise<Response | undefined> {
  const s = mux.open(open);
  let head: Head;
  try {
    head = await s.head;
  } catch {
    throw new HttpError(502, "host_unavailable", "the host dropped the request");
  }
  if (head.status !== 101) {
    s.reset();
    const err = (head.body as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new HttpError(head.status, err?.code ?? "host_error", err?.message ?? `the host answered ${head.status}`);
  }
  const protocol = head.headers?.find(([k]) => k === "sec-websocket-protocol")?.[1];
  let drained: (() => void) | undefined;
  const data = {
    async open(ws: ServerWebSocket<unknown>) {
      for (let m = await s.readMessage(); m; m = await s.readMessage()) {
        if (m.kind === "close") return ws.close(RESERVED_CLOSE.has(m.code) ? 1000 : m.code, m.reason);
        if (m.kind === "text") ws.sendText(m.text);
        else ws.sendBinary(m.bytes);
        if (ws.getBufferedAmount() > CLIENT_HIGH_WATER) await new Promise<void>((r) => (drained = r));
      }
      ws.close(1001, "the host went away");
    },
    message(_ws: ServerWebSocket<unknown>, m: string | Buffer) {
      void s.writeMessage(typeof m === "string" ? { kind: "text", text: m } : { kind: "binary", bytes: m });
    },
    drain() {
      const d = drained;
      drained = undefined;
      d?.();
    },
    close(_ws: ServerWebSocket<unknown>, code: number, reason: string) {
      drained?.();
      void s.writeMessage({ kind: "close", code, reason });
      s.end();
    },
  };
  if (!server.upgrade(request, { headers: protocol ? { "sec-websocket-protocol": protocol } : undefined, data })) {
    s.reset();
    throw new HttpError(400, "invalid_request", "this is not a valid WebSocket upgrade");
  }
  return undefined;
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

export const portRoutes = (auth: Auth, hosts: Directory) =>
  new Elysia().use(authenticated(auth)).all(
    "/api/hosts/:hostId/ports/:port/*",
    async ({ principal, params, request, server }) => {
      const port = Number(params.port);
      if (!/^\d{1,5}$/.test(params.port) || port < 1 || port > 65535) throw new HttpError(400, "invalid_request", "the port must be a number from 1 to 65535");
      const host = await hosts.find(principal, params.hostId, request);
      const upgrading = request.headers.get("upgrade")?.toLowerCase() === "websocket";
      if (host.peer && upgrading) throw new HttpError(503, "host_elsewhere", "this host is connected to another replica, and WebSockets to its ports are not forwarded between replicas yet; connect to that replica");
      if (host.peer) return forwardHttp(host.peer, request);
      const mux = host.mux?.();
      if (!host.mux) throw new HttpError(404, "port_not_exposed", "the server's own host exposes no ports; run warren host start --expose PORT on the machine instead");
      if (!mux) throw new HttpError(503, "host_offline", "the host is not connected");
      const url = new URL(request.url);
      const path = (PATH.exec(url.pathname)?.[1] ?? "/") + url.search;
      const headers = [...(request.headers as unknown as Iterable<[string, string]>)].filter(([k]) => !DROP.has(k.toLowerCase()));
      const caller = { userId: principal.userId, orgId: host.orgId };
      if (upgrading) {
        if (!server) throw new HttpError(500, "internal", "no server to upgrade on");
        return upgrade(server, request, mux, { kind: "ws", caller, port, path, headers, protocols: (request.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim()).filter(Boolean) });
      }
      const s = mux.open({ kind: "http", caller: { userId: principal.userId, orgId: host.orgId }, port, method: request.method, path, headers });
      if (request.body) {
        (async () => {
          for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) await s.write(chunk);
          s.end();
        })().catch(() => s.reset());
      } else s.end();
      let head: Head;
      try {
        head = await s.head;
      } catch {
        throw new HttpError(502, "host_unavailable", "the host dropped the request");
      }
      if (head.body !== undefined) {
        s.reset();
        const err = (head.body as { error?: { code?: string; message?: string } }).error;
        throw new HttpError(head.status, err?.code ?? "host_error", err?.message ?? `the host answered ${head.status}`);
      }
      const noBody = request.method === "HEAD" || head.status === 204 || head.status === 304;
      return new Response(noBody ? null : body(s), { status: head.status, headers: head.headers ?? [] });
    },
    { parse: "none" },
  );
