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
  const run = o.kind === "terminals" ? call(h, s, o) : o.kind === "attach" ? attach(h, s, o) : o.kind === "http" ? http(h, s, o) : refuse(s);
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

async function http(h: HostServing, s: Stream, o: Extract<Open, { kind: "http" }>) {
  if (!h.exposed.has(o.port)) {
    s.respond({ status: 404, body: { error: { code: "port_not_exposed", message: `port ${o.port} is not exposed by this host (start it with --expose ${o.port})` } } });
    return s.end();
  }
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
    s.respond({ status: 502, body: { error: { code: "port_unreachable", message: `nothing answered on port ${o.port} of the host` } } });
    return s.end();
  }
  s.respond({ status: r.status, headers: [...(r.headers as unknown as Iterable<[string, string]>)].filter(([k]) => !HOP.has(k.toLowerCase())) });
  if (r.body) for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) await s.write(chunk);
  s.end();
}
