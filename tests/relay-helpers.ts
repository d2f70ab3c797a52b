// A host that is not `warren host start`: it dials /relay/connect with a real host JWT and speaks
// relay.v1 through the real codec and multiplexer, but answers whatever a test tells it to — the
// hostile host of the abuse tests. Raw frames can go out around the multiplexer too.
import { expect } from "bun:test";
import { api, issued } from "./auth-helpers";
import type { TestServer } from "./harness";
import { FRAME, json as frameJson, type Hello, type Open } from "../relay/codec";
import { Mux, type Stream } from "../relay/mux";

export async function hostToken(s: TestServer, key: string, name: string): Promise<string> {
  const r = await api(s, null, { "x-api-key": key })("GET", `/api/auth/token?host=${encodeURIComponent(name)}`);
  expect(r.status).toBe(200);
  const { token } = (await r.json()) as { token: string };
  issued.push(token);
  return token;
}

export interface FakeHost {
  ws: WebSocket;
  mux: Mux;
  hello: Hello & { orgId: string };
  closed: Promise<number>;
  /** Sends bytes as one WebSocket message, bypassing the multiplexer. */
  raw(bytes: Uint8Array): void;
}

/** Connects as a host; `onOpen` answers each stream the server opens. */
export async function fakeHost(s: TestServer, token: string, onOpen: (stream: Stream, open: Open) => void): Promise<FakeHost> {
  const ws = new WebSocket(`${s.url.replace(/^http/, "ws")}/relay/connect`, {
    headers: { authorization: `Bearer ${token}`, "x-warren-host-version": "hostile", "x-warren-host-platform": "linux-x64" },
  } as unknown as string[]);
  ws.binaryType = "arraybuffer";
  const closed = new Promise<number>((r) => (ws.onclose = (e) => r(e.code)));
  let greet!: (h: Hello & { orgId: string }) => void;
  const hello = new Promise<Hello & { orgId: string }>((r) => (greet = r));
  const mux = new Mux(
    { send: (f) => ws.readyState === WebSocket.OPEN && ws.send(f), buffered: () => ws.bufferedAmount },
    { side: "host", onOpen, onControl: (f) => f.type === FRAME.HELLO && greet(frameJson(f.payload)!) },
  );
  ws.onmessage = (e) => mux.receive(new Uint8Array(e.data as ArrayBuffer));
  closed.then(() => mux.closeAll());
  const first = await Promise.race([hello, closed]);
  if (typeof first === "number") throw new Error(`the relay refused the fake host (${first})`);
  return { ws, mux, hello: first, closed, raw: (bytes) => ws.readyState === WebSocket.OPEN && ws.send(bytes) };
}

/** A terminal as a real host would describe it. */
export const terminalInfo = (id: string) => ({
  id,
  cmd: ["sh"],
  cols: 80,
  rows: 24,
  createdAt: new Date().toISOString(),
  createdBy: "usr_x",
  attached: 0,
  offset: 0,
  exit: null,
});

/** Opens a WebSocket, sends one message, and resolves with the first reply (rejects if it closes first). */
export async function firstReply(url: string, message: string, headers: Record<string, string> = {}): Promise<string> {
  const ws = new WebSocket(url.replace(/^http/, "ws"), { headers } as unknown as string[]);
  try {
    return await new Promise<string>((resolve, reject) => {
      ws.onopen = () => ws.send(message);
      ws.onmessage = (e) => resolve(String(e.data));
      ws.onclose = (e) => reject(new Error(`closed ${e.code}`));
    });
  } finally {
    ws.close();
  }
}
