// The relay multiplexer over a real WebSocket (Bun.serve on 127.0.0.1:0 and a WebSocket client):
// framing, credit flow control, resets, messages.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { ServerWebSocket } from "bun";
import { decode, encode, FRAME, type Frame, INITIAL_WINDOW, MAX_DATA, messagePieces, MessageReader, type Open } from "../relay/codec";
import { Mux, type Stream } from "../relay/mux";
import { waitUntil } from "./harness";

const caller = { userId: "u1", orgId: "o1" };
const httpOpen = (path: string): Open => ({ kind: "http", caller, port: 1, method: "GET", path, headers: [] });

/** Both ends of one relay link: `server` opens streams, `host` accepts them with `accept`. */
async function link(accept: (s: Stream, o: Open) => void) {
  let serverMux!: Mux;
  const controls: Frame[] = [];
  let ready!: () => void;
  const opened = new Promise<void>((r) => (ready = r));
  const srv = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, server) => (server.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      open(ws: ServerWebSocket<unknown>) {
        serverMux = new Mux({ send: (f) => void ws.sendBinary(f), buffered: () => ws.getBufferedAmount() }, { side: "server", onControl: (f) => void controls.push(f) });
        ready();
      },
      message: (_ws, m) => serverMux.receive(m as Uint8Array),
      drain: () => serverMux.drained(),
      close: () => serverMux.closeAll(),
    },
  });
  const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/`);
  ws.binaryType = "arraybuffer";
  const host = new Mux({ send: (f) => ws.send(f), buffered: () => ws.bufferedAmount }, { side: "host", onOpen: accept });
  ws.onmessage = (e) => host.receive(new Uint8Array(e.data as ArrayBuffer));
  ws.onclose = () => host.closeAll();
  await opened;
  return { server: () => serverMux, host, ws, controls, stop: () => srv.stop(true) };
}

async function readAll(s: Stream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let c = await s.read(); c; c = await s.read()) parts.push(new Uint8Array(c));
  return new Uint8Array(Buffer.concat(parts));
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe("relay codec", () => {
  test("frames round-trip; garbage is refused", () => {
    const f = decode(encode(FRAME.DATA, 0xfffffffe, new Uint8Array([1, 2, 3])))!;
    expect(f.type).toBe(FRAME.DATA);
    expect(f.stream).toBe(0xfffffffe);
    expect([...f.payload]).toEqual([1, 2, 3]);
    expect(decode(new Uint8Array([3, 0, 0]))).toBeNull();
    expect(decode(new Uint8Array([99, 0, 0, 0, 1]))).toBeNull();
  });

  test("a message bigger than a frame goes in pieces and comes back whole", () => {
    const bytes = pattern(3 * MAX_DATA + 17, 5);
    const pieces = messagePieces({ kind: "binary", bytes });
    expect(pieces.length).toBe(4);
    for (const p of pieces) expect(p.length).toBeLessThanOrEqual(MAX_DATA);
    const r = new MessageReader();
    const got = pieces.map((p) => r.push(p));
    expect(got.slice(0, 3)).toEqual([null, null, null]);
    expect(got[3]).toEqual({ kind: "binary", bytes: expect.anything() });
    expect(Buffer.from((got[3] as { bytes: Uint8Array }).bytes).equals(Buffer.from(bytes))).toBe(true);
    expect(r.push(messagePieces({ kind: "close", code: 1000, reason: "exited" })[0]!)).toEqual({ kind: "close", code: 1000, reason: "exited" });
    expect(r.push(messagePieces({ kind: "text", text: "" })[0]!)).toEqual({ kind: "text", text: "" });
  });
});

describe("relay mux over a real WebSocket", () => {
  let l: Awaited<ReturnType<typeof link>>;
  const accepted: { s: Stream; o: Open }[] = [];
  beforeAll(async () => {
    l = await link((s, o) => {
      accepted.push({ s, o });
      const path = (o as { path: string }).path;
      if (path === "/echo") {
        s.respond({ status: 200 });
        (async () => {
          for (let c = await s.read(); c; c = await s.read()) await s.write(new Uint8Array(c));
          s.end();
        })();
      } else if (path.startsWith("/bytes/")) {
        s.respond({ status: 200 });
        const n = Number(path.split("/")[2]);
        (async () => {
          await s.write(pattern(n, 7));
          s.end();
        })();
      } else if (path === "/refuse") s.reset();
      // "/hold": accepted and left alone
    });
  });
  afterAll(() => l.stop());

  test("a stream carries bytes both ways, intact, and ends with FIN", async () => {
    const s = l.server().open(httpOpen("/echo"));
    expect((await s.head).status).toBe(200);
    const sent = pattern(3 * 1024 * 1024 + 5, 1); // three windows' worth: credit must come back
    const writing = s.write(sent).then(() => s.end());
    const got = await readAll(s);
    await writing;
    expect(got.length).toBe(sent.length);
    expect(Buffer.from(got).equals(Buffer.from(sent))).toBe(true);
    await s.closed;
    expect(l.server().size).toBe(0);
  });

  test("a refused stream rejects its head; the connection carries on", async () => {
    const s = l.server().open(httpOpen("/refuse"));
    await expect(s.head).rejects.toThrow(/refused/);
    await s.closed;
    const ok = l.server().open(httpOpen("/bytes/10"));
    expect((await readAll(ok)).length).toBe(10);
  });

  test("a stalled reader stops only its own stream, after one window; it resumes intact", async () => {
    const stalled = l.server().open(httpOpen("/bytes/" + 4 * INITIAL_WINDOW));
    await stalled.head;
    // The host wrote 4 windows; without reads, at most one window may leave it.
    const hostSide = accepted.at(-1)!.s;
    await waitUntil(() => hostSide.credit < MAX_DATA, 10_000, "the window to fill");
    // Meanwhile another stream moves many windows.
    const other = l.server().open(httpOpen("/bytes/" + 8 * INITIAL_WINDOW));
    const b = await readAll(other);
    expect(b.length).toBe(8 * INITIAL_WINDOW);
    expect(Buffer.from(b).equals(Buffer.from(pattern(8 * INITIAL_WINDOW, 7)))).toBe(true);
    // Still stalled: no credit came back because nobody read.
    expect(hostSide.credit).toBeLessThan(MAX_DATA);
    const a = await readAll(stalled);
    expect(Buffer.from(a).equals(Buffer.from(pattern(4 * INITIAL_WINDOW, 7)))).toBe(true);
  });

  test("messages keep their boundaries and kinds across pieces", async () => {
    const s = l.server().open(httpOpen("/echo"));
    await s.head;
    const big = pattern(200_000, 3);
    s.writeMessage({ kind: "text", text: '{"type":"hello"}' });
    s.writeMessage({ kind: "binary", bytes: big });
    s.writeMessage({ kind: "close", code: 1000, reason: "bye" });
    s.end();
    const a = await s.readMessage();
    const b = await s.readMessage();
    const c = await s.readMessage();
    expect(a).toEqual({ kind: "text", text: '{"type":"hello"}' });
    expect(b?.kind).toBe("binary");
    expect(Buffer.from((b as { bytes: Uint8Array }).bytes).equals(Buffer.from(big))).toBe(true);
    expect(c).toEqual({ kind: "close", code: 1000, reason: "bye" });
    expect(await s.readMessage()).toBeNull();
  });

  test("PING is answered with PONG carrying the same nonce", async () => {
    l.server().control(FRAME.PING, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    await waitUntil(() => l.controls.some((f) => f.type === FRAME.PONG), 5_000, "the PONG");
    expect([...l.controls.find((f) => f.type === FRAME.PONG)!.payload]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test("closing the socket ends every open stream on both ends", async () => {
    const s = l.server().open(httpOpen("/hold"));
    await waitUntil(() => accepted.some((a) => (a.o as { path: string }).path === "/hold"), 5_000, "the OPEN");
    const hostSide = accepted.find((a) => (a.o as { path: string }).path === "/hold")!.s;
    const reading = s.read();
    l.ws.close();
    expect(await reading).toBeNull();
    await hostSide.closed;
    expect(hostSide.resetCode).toBe(3);
    expect(() => l.server().open(httpOpen("/echo"))).toThrow(/not connected/);
  });
});
