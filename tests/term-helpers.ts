// A terminal client for tests, speaking the shared codec like the CLI and the page do.
import { ACK_EVERY, encode, parseServer, type ServerMessage } from "../pty/protocol";
import type { TestServer } from "./harness";

export interface AttachResult {
  hello: Extract<ServerMessage, { type: "hello" }>;
  /** Bytes received, concatenated. */
  output: Uint8Array;
  messages: ServerMessage[];
  exit?: Extract<ServerMessage, { type: "exit" }>;
  closeCode: number;
  /** Absolute offset after the last byte received. */
  offset: number;
}

export interface Attached {
  ws: WebSocket;
  result: Promise<AttachResult>;
  /** Resolves once the output so far contains `text`. */
  waitFor(text: string, ms?: number): Promise<void>;
  send(text: string): void;
  text(): string;
  offset(): number;
}

/**
 * `ackEvery` (default the protocol's 64 KiB) and `ackDelayMs` (send each ack that much later:
 * a slow link or a busy client) shape how the client acknowledges.
 */
export function attach(url: string, o: { headers?: Record<string, string>; ack?: boolean; ackEvery?: number; ackDelayMs?: number; onHello?: (h: AttachResult["hello"]) => void } = {}): Attached {
  const ws = new WebSocket(url, { headers: o.headers } as unknown as string[]);
  ws.binaryType = "arraybuffer";
  const chunks: Uint8Array[] = [];
  const messages: ServerMessage[] = [];
  let hello: AttachResult["hello"] | undefined;
  let offset = 0;
  let acked = 0;
  let text = "";
  const decoder = new TextDecoder();
  const waiters = new Set<() => void>();
  const result = new Promise<AttachResult>((resolve, reject) => {
    ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        const m = parseServer(e.data);
        if (!m) return;
        messages.push(m);
        if (m.type === "hello") {
          hello = m;
          offset = acked = m.offset;
          o.onHello?.(m);
        }
        if (m.type === "reset") offset = acked = m.offset;
        return;
      }
      const bytes = new Uint8Array(e.data as ArrayBuffer);
      chunks.push(bytes);
      offset += bytes.length;
      text += decoder.decode(bytes, { stream: true });
      if (o.ack !== false && offset - acked >= (o.ackEvery ?? ACK_EVERY)) {
        acked = offset;
        const ack = encode({ type: "ack", offset });
        if (o.ackDelayMs) setTimeout(() => ws.readyState === WebSocket.OPEN && ws.send(ack), o.ackDelayMs);
        else ws.send(ack);
      }
      for (const w of waiters) w();
    };
    ws.onclose = (e) => {
      if (!hello) return reject(new Error(`closed before hello (${e.code})`));
      const output = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        output.set(c, at);
        at += c.length;
      }
      resolve({ hello, output, messages, exit: messages.find((m) => m.type === "exit") as AttachResult["exit"], closeCode: e.code, offset });
    };
    ws.onerror = () => {};
  });
  const opened = new Promise((r) => ws.addEventListener("open", r, { once: true }));
  return {
    ws,
    result,
    send: (t) => void opened.then(() => ws.send(new TextEncoder().encode(t))),
    text: () => text,
    offset: () => offset,
    waitFor(needle, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (text.includes(needle)) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${JSON.stringify(needle)}; got ${JSON.stringify(text.slice(-500))}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
}

/** ws://…/api/hosts/local/terminals/<id>/attach with query parameters. */
export const attachUrl = (s: TestServer, id: string, q: Record<string, string | number> = {}) =>
  `${s.url.replace(/^http/, "ws")}/api/hosts/local/terminals/${id}/attach${Object.keys(q).length ? "?" + new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)])) : ""}`;
