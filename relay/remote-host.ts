// A remote host, as the server sees it: the TerminalHost interface (pty/host.ts) carried over
// relay streams. Calls are one stream each (OPEN → HEAD with the answer); an attach is a stream
// of term.v1 messages both ways. The host gets the resolved caller, nothing of the client's.
import { CLOSE, encode as encodeTerm, parseServer } from "../pty/protocol";
import { TerminalError, type AttachHandle, type Caller, type TerminalHost, type TerminalInfo } from "../pty/host";
import type { Sink } from "../pty/session";
import { BAD_ANSWER, hostFailure, TERMINAL_ANSWERS, type HostFailure } from "./answers";
import { RST_CODE, type Head, type Open } from "./codec";
import { RelayError, type Mux, type Stream } from "./mux";

const failed = (f: HostFailure) => new TerminalError(f.status, f.code, f.message);

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
      if (e instanceof RelayError) throw new TerminalError(e.status, e.code, e.message);
      throw e;
    }
  };
  const head = async (s: Stream): Promise<Head> => {
    try {
      return await s.head;
    } catch (e) {
      const r = e as RelayError;
      throw new TerminalError(502, r.code ?? "host_unavailable", r.message);
    }
  };
  /** One terminal call: its answer checked against the shape that call answers with. */
  const call = async <Op extends keyof typeof TERMINAL_ANSWERS>(c: Caller, op: Op, tid?: string, body?: unknown) => {
    const s = open({ kind: "terminals", caller: c, op, tid, body });
    s.end();
    const h = await head(s);
    s.reset(); // nothing more to read; frees the stream at once on both ends
    if (h.status === 404 && op !== "list" && op !== "create") return null;
    if (h.status >= 400) throw failed(hostFailure(h));
    const answer = TERMINAL_ANSWERS[op].safeParse(h.body);
    if (h.status >= 300 || !answer.success) throw failed(BAD_ANSWER);
    return answer.data as Op extends "list" ? { terminals: TerminalInfo[] } : TerminalInfo;
  };
  return {
    list: async (c) => (await call(c, "list"))!.terminals,
    get: (c, tid) => call(c, "get", tid),
    create: async (c, t) => (await call(c, "create", undefined, t))!,
    kill: (c, tid) => call(c, "kill", tid),
    async attach(c, tid, o, sink) {
      const s = open({ kind: "attach", caller: c, tid, ...o });
      const h = await head(s);
      if (h.status === 404) {
        s.reset();
        return null;
      }
      if (h.status !== 200) {
        s.reset();
        throw failed(h.status >= 400 ? hostFailure(h) : BAD_ANSWER);
      }
      pumpToClient(s, sink, stopping);
      return attachHandle(s);
    },
  };
}

/** Close codes a host may end an attach with: the program's exit, or the server's own ones. */
const HOST_CLOSE: Set<number> = new Set([CLOSE.EXITED, CLOSE.GOING_AWAY, CLOSE.HOST_GONE, 4404]);

/**
 * Host → client: each message as it comes, waiting for the client's socket before reading on.
 * Terminal bytes pass as they are (they are the program's output); control messages are
 * re-encoded from their checked form, so nothing but term.v1 reaches the client.
 */
async function pumpToClient(s: Stream, sink: Sink, stopping: () => boolean): Promise<void> {
  for (let m = await s.readMessage(); m; m = await s.readMessage()) {
    if (m.kind === "binary") sink.binary(m.bytes);
    else if (m.kind === "text") {
      const control = parseServer(m.text);
      if (!control) {
        s.reset(RST_CODE.PROTOCOL);
        break;
      }
      sink.text(encodeTerm(control));
    } else if (HOST_CLOSE.has(m.code)) return sink.close(m.code, m.code === CLOSE.EXITED ? "exited" : "the host ended the attach");
    else {
      s.reset(RST_CODE.PROTOCOL);
      break;
    }
    await sink.whenWritable?.();
  }
  if (stopping()) sink.close(CLOSE.GOING_AWAY, "server shutting down");
  else sink.close(CLOSE.HOST_GONE, s.resetCode === RST_CODE.CLOSED ? "the host disconnected" : s.resetCode === RST_CODE.PROTOCOL ? "the host broke the relay protocol" : "the host ended the attach");
}

function attachHandle(s: Stream): AttachHandle {
  return {
    input: (bytes) => void s.writeMessage({ kind: "binary", bytes }),
    control: (m) => void s.writeMessage({ kind: "text", text: encodeTerm(m) }),
    detach: () => s.reset(),
  };
}
