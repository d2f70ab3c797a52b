// A remote host, as the server sees it: the TerminalHost interface (pty/host.ts) carried over
// relay streams. Calls are one stream each (OPEN → HEAD with the answer); an attach is a stream
// of term.v1 messages both ways. The host gets the resolved caller, nothing of the client's.
import { CLOSE, encode as encodeTerm } from "../pty/protocol";
import { TerminalError, type AttachHandle, type Caller, type TerminalHost, type TerminalInfo } from "../pty/host";
import type { Sink } from "../pty/session";
import { RST_CODE, type Head, type Open } from "./codec";
import { RelayError, type Mux, type Stream } from "./mux";

/**
 * `mux` is the host's current connection (null while it is away); `stopping` says the server
 * itself is going down, so attached clients are told to come back (1001) rather than that the
 * host is gone (4503).
 */
export function remoteHost(mux: () => Mux | null, stopping: () => boolean): TerminalHost {
  const open = (o: Open): Stream => {
    const m = mux();
    if (!m) throw new TerminalError(503, "host_offline", "the host is not connected");
    try {
      return m.open(o);
    } catch (e) {
      if (e instanceof RelayError) throw new TerminalError(e.status, "host_unavailable", e.message);
      throw e;
    }
  };
  const head = async (s: Stream): Promise<Head> => {
    try {
      return await s.head;
    } catch (e) {
      throw new TerminalError(502, "host_unavailable", (e as Error).message);
    }
  };
  const call = async <T>(c: Caller, op: "list" | "get" | "create" | "kill", tid?: string, body?: unknown): Promise<T | null> => {
    const s = open({ kind: "terminals", caller: c, op, tid, body });
    s.end();
    const h = await head(s);
    s.reset(); // nothing more to read; frees the stream at once on both ends
    if (h.status === 404) return null;
    if (h.status >= 400) {
      const err = (h.body as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new TerminalError(h.status, err?.code ?? "host_error", err?.message ?? `the host answered ${h.status}`);
    }
    return h.body as T;
  };
  return {
    list: async (c) => (await call<{ terminals: TerminalInfo[] }>(c, "list"))!.terminals,
    get: (c, tid) => call<TerminalInfo>(c, "get", tid),
    create: async (c, t) => (await call<TerminalInfo>(c, "create", undefined, t))!,
    kill: (c, tid) => call<TerminalInfo>(c, "kill", tid),
    async attach(c, tid, o, sink) {
      const s = open({ kind: "attach", caller: c, tid, ...o });
      const h = await head(s);
      if (h.status === 404) {
        s.reset();
        return null;
      }
      pumpToClient(s, sink, stopping);
      return attachHandle(s);
    },
  };
}

/** Host → client: each message as it comes, waiting for the client's socket before reading on. */
async function pumpToClient(s: Stream, sink: Sink, stopping: () => boolean): Promise<void> {
  for (let m = await s.readMessage(); m; m = await s.readMessage()) {
    if (m.kind === "binary") sink.binary(m.bytes);
    else if (m.kind === "text") sink.text(m.text);
    else return sink.close(m.code, m.reason);
    await sink.whenWritable?.();
  }
  if (stopping()) sink.close(CLOSE.GOING_AWAY, "server shutting down");
  else sink.close(CLOSE.HOST_GONE, s.resetCode === RST_CODE.CLOSED ? "the host disconnected" : "the host ended the attach");
}

function attachHandle(s: Stream): AttachHandle {
  return {
    input: (bytes) => void s.writeMessage({ kind: "binary", bytes }),
    control: (m) => void s.writeMessage({ kind: "text", text: encodeTerm(m) }),
    detach: () => s.reset(),
  };
}
