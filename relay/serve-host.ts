// The host agent's side of relay streams: terminal calls and attaches answered by the same
// TerminalHost code the server's local host uses (pty/host.ts), and HTTP to exposed ports on
// this machine's loopback. The caller in each OPEN was resolved by the server; the host still
// refuses any org but its own.
import { parseClient } from "../pty/protocol";
import { TerminalError, type TerminalHost } from "../pty/host";
import type { NewTerminal } from "../pty/service";
import { RST_CODE, type Head, type Open } from "./codec";
import type { Stream } from "./mux";

export interface HostServing {
  terminals: TerminalHost;
  /** The org this host is registered in (from the server's HELLO). */
  orgId(): string | null;
  /** Loopback ports clients may reach (--expose). */
  exposed: Set<number>;
}

const notFound = (what: string): Head => ({ status: 404, body: { error: { code: "not_found", message: `no such ${what}` } } });

/** Hop-by-hop headers never cross a proxy (RFC 9110 §7.6.1). */
const HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer", "host"]);

export function serveStream(h: HostServing, s: Stream, o: Open): void {
  if (!o.caller || o.caller.orgId !== h.orgId()) {
    s.respond(notFound("host"));
    return s.end();
  }
  const run =
    o.kind === "terminals" ? call(h, s, o) : o.kind === "attach" ? attach(h, s, o) : o.kind === "http" ? http(h, s, o) : o.kind === "ws" ? ws(h, s, o) : refuse(s);
  run.catch(() => s.reset(RST_CODE.CANCEL));
}

async function refuse(s: Stream) {
  s.reset(RST_CODE.PROTOCOL);
}

async function call(h: HostServing, s: Stream, o: Extract<Open, { kind: "terminals" }>) {
  let head: Head;
  try {
    const t = h.terminals;
    const result =
      o.op === "list"
        ? { terminals: await t.list(o.caller) }
        : o.op === "get"
          ? await t.get(o.caller, o.tid ?? "")
          : o.op === "kill"
            ? await t.kill(o.caller, o.tid ?? "")
            : await t.create(o.caller, o.body as NewTerminal);
    head = result ? { status: o.op === "create" ? 201 : 200, body: result } : notFound("terminal");
  } catch (e) {
    if (!(e instanceof TerminalError)) throw e;
    head = { status: e.status, body: { error: { code: e.code, message: e.message } } };
  }
  s.respond(head);
  s.end();
}

async function attach(h: HostServing, s: Stream, o: Extract<Open, { kind: "attach" }>) {
  let closed = false;
  // HEAD goes out before the hello the attach sends, so it is answered first.
  const exists = await h.terminals.get(o.caller, o.tid);
  if (!exists) {
    s.respond(notFound("terminal"));
    return s.end();
  }
  s.respond({ status: 200 });
  const handle = await h.terminals.attach(o.caller, o.tid, { writable: o.writable, since: o.since, cols: o.cols, rows: o.rows }, {
    binary: (bytes) => void s.writeMessage({ kind: "binary", bytes }),
    text: (text) => void s.writeMessage({ kind: "text", text }),
    close: (code, reason) => {
      closed = true;
      void s.writeMessage({ kind: "close", code, reason });
      s.end();
    },
  });
  if (!handle) {
    void s.writeMessage({ kind: "close", code: 4404, reason: "no such terminal" });
    return s.end();
  }
  for (let m = await s.readMessage(); m; m = await s.readMessage()) {
    if (m.kind === "binary") handle.input(m.bytes);
    else if (m.kind === "text") {
      const control = parseClient(m.text);
      if (control) handle.control(control);
    } else break;
  }
  if (!closed) handle.detach();
  s.end();
}

function notExposed(s: Stream, port: number): void {
  s.respond({ status: 404, body: { error: { code: "port_not_exposed", message: `port ${port} is not exposed by this host (start it with --expose ${port})` } } });
  s.end();
}

function unreachable(s: Stream, port: number): void {
  s.respond({ status: 502, body: { error: { code: "port_unreachable", message: `nothing answered on port ${port} of the host` } } });
  s.end();
}

/** Above this much unsent to the upstream WebSocket, stop reading from the client's stream. */
const UPSTREAM_HIGH_WATER = 1024 * 1024;
/**
 * An upstream's messages cannot be paused (WebSocket API); past this much waiting for a slow
 * client the connection is closed rather than let memory grow without bound.
 */
const CLIENT_BACKLOG_LIMIT = 8 * 1024 * 1024;
/** Close code for both ends when that happens: 1013 "try again later" to the client. */
const TOO_SLOW = { client: 1013, upstream: 4013, reason: "the client is reading too slowly" } as const;
/** Codes a WebSocket client may send; others (1001, 1011…) become 1000 towards the upstream. */
const sendable = (code: number) => code === 1000 || (code >= 3000 && code <= 4999);

async function ws(h: HostServing, s: Stream, o: Extract<Open, { kind: "ws" }>) {
  if (!h.exposed.has(o.port)) return notExposed(s, o.port);
  const headers = Object.fromEntries(o.headers.filter(([k]) => !HOP.has(k.toLowerCase()) && !k.toLowerCase().startsWith("sec-websocket")));
  const upstream = new WebSocket(`ws://127.0.0.1:${o.port}${o.path}`, { headers, protocols: o.protocols } as unknown as string[]);
  upstream.binaryType = "arraybuffer";
  upstream.onerror = () => {};
  const opened = await new Promise<boolean>((r) => {
    upstream.onopen = () => r(true);
    upstream.onclose = () => r(false);
  });
  if (!opened) return unreachable(s, o.port);
  s.respond({ status: 101, headers: upstream.protocol ? [["sec-websocket-protocol", upstream.protocol]] : [] });
  upstream.onmessage = (e) => {
    if (s.queued > CLIENT_BACKLOG_LIMIT) {
      upstream.close(TOO_SLOW.upstream, TOO_SLOW.reason);
      return;
    }
    void s.writeMessage(typeof e.data === "string" ? { kind: "text", text: e.data } : { kind: "binary", bytes: new Uint8Array(e.data as ArrayBuffer) });
  };
  upstream.onclose = (e) => {
    const slow = e.code === TOO_SLOW.upstream;
    void s.writeMessage({ kind: "close", code: slow ? TOO_SLOW.client : e.code, reason: slow ? TOO_SLOW.reason : e.reason });
    s.end();
  };
  for (let m = await s.readMessage(); m; m = await s.readMessage()) {
    if (m.kind === "close") return upstream.close(sendable(m.code) ? m.code : 1000, m.reason);
    if (upstream.readyState !== WebSocket.OPEN) break;
    upstream.send(m.kind === "text" ? m.text : m.bytes);
    while (upstream.bufferedAmount > UPSTREAM_HIGH_WATER && upstream.readyState === WebSocket.OPEN) await Bun.sleep(2);
  }
  if (upstream.readyState === WebSocket.OPEN) upstream.close(1000, "client gone");
}

async function http(h: HostServing, s: Stream, o: Extract<Open, { kind: "http" }>) {
  if (!h.exposed.has(o.port)) return notExposed(s, o.port);
  const headers = new Headers(o.headers.filter(([k]) => !HOP.has(k.toLowerCase())));
  const hasBody = o.method !== "GET" && o.method !== "HEAD";
  // Credit for the request body goes back as fetch pulls it: a slow upstream slows the client.
  const body = hasBody
    ? new ReadableStream<Uint8Array>({
        async pull(c) {
          const chunk = await s.read();
          if (chunk) c.enqueue(chunk);
          else c.close();
        },
      }, { highWaterMark: 0 })
    : undefined;
  let r: Response;
  try {
    r = await fetch(`http://127.0.0.1:${o.port}${o.path}`, { method: o.method, headers, body, redirect: "manual", decompress: false, duplex: "half" } as RequestInit);
  } catch {
    return unreachable(s, o.port);
  }
  s.respond({ status: r.status, headers: [...(r.headers as unknown as Iterable<[string, string]>)].filter(([k]) => !HOP.has(k.toLowerCase())) });
  if (r.body) for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) await s.write(chunk);
  s.end();
}
