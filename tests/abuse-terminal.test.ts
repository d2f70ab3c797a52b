// A hostile terminal client (issue #13): thousands of malformed frames on a real attach — control
// messages that are not JSON, not ours, nested deep, with sizes and offsets out of range, bytes
// of every kind. The server closes a client that breaks the protocol (4400) and nothing else:
// the terminal lives on, a fresh attach works, /healthz stays fast, memory comes back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, AS_PROXY, json, ownerSession } from "./auth-helpers";
import { nestedArrays, rng, rssMb, seedFrom, settledRss, watchHealth } from "./abuse-helpers";
import { cleanup, DIALECT, startServer, type TestServer } from "./harness";

afterAll(cleanup);

describe(`a hostile terminal client (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let tid = "";
  beforeAll(async () => {
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    // Input goes nowhere and is not echoed, and raw mode keeps ^C, ^D and ^\\ from ending the
    // program: the fuzz measures the server, not the terminal's output.
    tid = (await json<{ id: string }>(api(s, owner)("POST", "/api/hosts/local/terminals", { cmd: ["sh", "-c", "stty raw -echo; exec cat > /dev/null"] }))).id;
  });
  afterAll(() => s.stop());

  let refusal = "";
  const attach = () => {
    const ws = new WebSocket(`${s.url.replace(/^http/, "ws")}/api/hosts/local/terminals/${tid}/attach`, { headers: { authorization: `Bearer ${owner}` } } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    const opened = new Promise<boolean>((r) => {
      ws.onopen = () => r(true);
      ws.onclose = (e) => {
        refusal = `${e.code} ${e.reason}`;
        r(false);
      };
    });
    return { ws, opened };
  };

  test("5,000 malformed frames: the breaker is closed 4400, the terminal and the server carry on", async () => {
    const seed = seedFrom(4400);
    const r = rng(seed);
    const before = rssMb(s.proc.pid);
    const health = watchHealth(s.url);
    const closes = new Map<number, number>();
    let sent = 0;
    let client = attach();
    const frame = (): string | Uint8Array<ArrayBuffer> =>
      r.pick([
        () => r.bytes(r.int(2048)),
        () => new TextDecoder().decode(r.bytes(r.int(200))),
        () => JSON.stringify({ type: r.pick(["resize", "ack", "hello", "exit", "nope", null]), cols: r.pick([0, -1, 1e9, 80.5, "80", null]), rows: r.pick([0, 1e9, 24]), offset: r.pick([-1, 2 ** 60, "1", null, 1e308]) }),
        () => nestedArrays(1 + r.int(100_000)),
        () => "{".repeat(r.int(10_000)),
        () => JSON.stringify({ type: "resize", cols: 1 + r.int(1000), rows: 1 + r.int(500) }),
        () => JSON.stringify({ type: "ack", offset: r.int(1 << 20) }),
        () => "x".repeat(r.int(8) ? r.int(1 << 16) : r.int(1 << 20)),
      ])();
    while (sent < 5000) {
      if (client.ws.readyState !== WebSocket.OPEN) {
        const closing = client.ws;
        // A client still sending when the server closes may not hear the close for a while
        // (its own frames fill the socket): the server is done with it; so is the test.
        await new Promise<void>((done) => {
          if (closing.readyState === WebSocket.CLOSED) return done();
          const timer = setTimeout(done, 2000);
          closing.addEventListener("close", (e) => (clearTimeout(timer), closes.set(e.code, (closes.get(e.code) ?? 0) + 1), done()), { once: true });
        });
        client = attach();
        if (!(await client.opened)) throw new Error(`seed ${seed}: the terminal refused a fresh attach after ${sent} frames (${refusal}): ${await api(s, owner)("GET", "/api/hosts/local/terminals").then((x) => x.text())}`);
      }
      client.ws.send(frame());
      sent++;
      if (sent % 25 === 0) await Bun.sleep(1);
    }
    client.ws.close();
    const { slowPairs } = await health.stop();
    if (slowPairs.length) console.error(`terminal fuzz seed ${seed}: slow ${JSON.stringify(slowPairs)}`);
    expect([...closes.keys()].every((c) => c === 4400)).toBe(true);
    expect(slowPairs).toEqual([]);
    // The terminal is alive and answers a well-behaved client.
    const fresh = attach();
    const hello = await new Promise<string>((resolve, reject) => {
      fresh.ws.onmessage = (e) => typeof e.data === "string" && resolve(e.data);
      fresh.ws.onclose = (e) => reject(new Error(`closed ${e.code}`));
    });
    fresh.ws.close();
    expect(JSON.parse(hello)).toMatchObject({ type: "hello" });
    expect(await settledRss(s.proc.pid, before, 50)).toBeLessThan(before + 50);
  }, 180_000);
});
