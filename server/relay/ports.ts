// /api/hosts/:hostId/ports/:port/… (SPEC §4): HTTP to a port a host exposes on its own loopback
// (`warren host start --expose PORT`), streamed both ways through one relay stream each, with
// the relay's credit flow control end to end: a slow client slows the upstream, nothing piles
// up. The host checks the port against its --expose list; it never sees the client's
// credential or cookie — those headers stop here.
import { Elysia } from "elysia";
import { authenticated, type Auth } from "../auth";
import { HttpError } from "../http/errors";
import type { Head } from "../../relay/codec";
import type { Stream } from "../../relay/mux";
import type { Directory } from "./directory";
import { forwardHttp } from "./peer";

/** Never forwarded: our credentials, and hop-by-hop headers (RFC 9110 §7.6.1). */
const DROP = new Set(["authorization", "cookie", "x-api-key", "x-warren-org", "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "content-length"]);
const PATH = /^\/api\/hosts\/[^/]+\/ports\/[^/]+(\/.*)?$/;

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
    async ({ principal, params, request }) => {
      const port = Number(params.port);
      if (!/^\d{1,5}$/.test(params.port) || port < 1 || port > 65535) throw new HttpError(400, "invalid_request", "the port must be a number from 1 to 65535");
      const host = await hosts.find(principal, params.hostId, request);
      if (host.peer) return forwardHttp(host.peer, request);
      const mux = host.mux?.();
      if (!host.mux) throw new HttpError(404, "port_not_exposed", "the server's own host exposes no ports; run warren host start --expose PORT on the machine instead");
      if (!mux) throw new HttpError(503, "host_offline", "the host is not connected");
      const url = new URL(request.url);
      const path = (PATH.exec(url.pathname)?.[1] ?? "/") + url.search;
      const headers = [...(request.headers as unknown as Iterable<[string, string]>)].filter(([k]) => !DROP.has(k.toLowerCase()));
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
