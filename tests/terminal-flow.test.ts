// Terminal flow control at its edges (SPEC §5): heavy output to clients that ack late, in bursts
// or only at the window's edge, with a CPU hog beside the server — every byte, then `exit`,
// then close 1000, every round; backpressure (a slow writer pauses the program instead of
// losing output), while a stalled writer or a view-only client never holds it back; and a
// reattach whose `since` the ring cannot continue from gets `reset` before the replay.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, AS_PROXY, json, ownerSession } from "./auth-helpers";
import { cleanup, DIALECT, startServer, waitUntil, type TestServer } from "./harness";
import { attach, attachUrl } from "./term-helpers";

afterAll(cleanup);

type Terminal = { id: string; offset: number; exit: { code: number | null } | null };

/** What `head -c N /dev/zero | base64 -w 76` prints through a PTY (ONLCR: lines end \r\n). */
function base64Bytes(n: number): number {
  const encoded = Math.ceil(n / 3) * 4;
  return encoded + Math.ceil(encoded / 76) * 2;
}

/** A busy process beside the server for the length of a test: the contention that exposed stalls. */
function cpuHog(): () => void {
  const hog = Bun.spawn(["sh", "-c", "while :; do :; done"], { stdout: "ignore", stderr: "ignore" });
  return () => hog.kill("SIGKILL");
}

function terminals(s: TestServer, token: string) {
  const create = async (cmd: string[]) => {
    const r = await api(s, token)("POST", "/api/hosts/local/terminals", { cmd });
    expect(r.status).toBe(201);
    return (await r.json()) as Terminal;
  };
  const get = async (id: string) => (await json<{ terminals: Terminal[] }>(api(s, token)("GET", "/api/hosts/local/terminals"))).terminals.find((t) => t.id === id)!;
  return { create, get };
}

describe(`terminal flow control (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let auth: Record<string, string> = {};
  let t: ReturnType<typeof terminals>;
  beforeAll(async () => {
    // No writer ever counts as stalled here: if anything paused the program for good, the test hangs and fails.
    s = await startServer({ args: [...AS_PROXY, "--terminal-stall", "1h"] });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    auth = { authorization: `Bearer ${owner}` };
    t = terminals(s, owner);
  });
  afterAll(() => s.stop());

  const clients = [
    { name: "acks every 64 KiB", o: {} },
    { name: "acks late (40 ms after each 64 KiB)", o: { ackDelayMs: 40 } },
    { name: "acks in bursts (every 256 KiB)", o: { ackEvery: 256 * 1024 } },
    { name: "acks only at the window's edge (1 MiB)", o: { ackEvery: 1024 * 1024 } },
  ];
  for (const c of clients) {
    test(`under CPU contention, a client that ${c.name} gets every byte of 8 MB, then exit, then 1000`, async () => {
      const stop = cpuHog();
      try {
        for (let round = 0; round < 2; round++) {
          const term = await t.create(["sh", "-c", "head -c 6000000 /dev/zero | base64 -w 76"]);
          const r = await attach(attachUrl(s, term.id), { headers: auth, ...c.o }).result;
          expect({ round, bytes: r.output.length, resets: r.messages.filter((m) => m.type === "reset").length }).toEqual({ round, bytes: base64Bytes(6_000_000), resets: 0 });
          expect(r.exit).toMatchObject({ code: 0 });
          expect(r.closeCode).toBe(1000);
        }
      } finally {
        stop();
      }
    }, 120_000);
  }

  test("backpressure: a writer far slower than the program (acks 100 ms late) loses nothing; no reset, exit 0", async () => {
    const stop = cpuHog();
    try {
      const term = await t.create(["sh", "-c", "head -c 3000000 /dev/zero | base64 -w 76"]);
      const r = await attach(attachUrl(s, term.id), { headers: auth, ackDelayMs: 100 }).result;
      expect(r.output.length).toBe(base64Bytes(3_000_000));
      expect(r.messages.some((m) => m.type === "reset")).toBe(false);
      expect(r.exit).toMatchObject({ code: 0 });
    } finally {
      stop();
    }
  }, 120_000);

  test("a view-only client that never acks does not slow the program: it runs to the end; the viewer is reset", async () => {
    const term = await t.create(["sh", "-c", "head -c 15000000 /dev/zero | base64 -w 76; sleep 30"]);
    const viewer = attach(attachUrl(s, term.id, { mode: "view" }), { headers: auth, ack: false });
    await waitUntil(async () => (await t.get(term.id)).offset >= base64Bytes(15_000_000), 60_000, "all of the output, past a viewer that never acks");
    expect(viewer.offset()).toBeLessThanOrEqual(1024 * 1024);
    viewer.ws.send(JSON.stringify({ type: "ack", offset: viewer.offset() }));
    await waitUntil(() => viewer.offset() >= base64Bytes(15_000_000), 20_000, "the viewer to catch up from the ring");
    viewer.ws.close();
    expect((await viewer.result).messages.some((m) => m.type === "reset")).toBe(true);
    await api(s, owner)("DELETE", `/api/hosts/local/terminals/${term.id}`);
  }, 90_000);

  test("a reattach whose since is outside the ring (too old, or past its end) gets hello, then reset, then the ring", async () => {
    const term = await t.create(["sh", "-c", "head -c 3000000 /dev/zero | base64 -w 76; echo; echo the-end; sleep 30"]);
    const first = attach(attachUrl(s, term.id), { headers: auth });
    await first.waitFor("the-end", 30_000);
    first.ws.close();
    await first.result;
    const end = (await t.get(term.id)).offset;
    const start = end - 1024 * 1024;
    for (const since of [0, end + 5000]) {
      const again = attach(attachUrl(s, term.id, { since }), { headers: auth });
      await again.waitFor("the-end");
      again.ws.close();
      const r = await again.result;
      expect(r.messages.slice(0, 2)).toEqual([
        { type: "hello", offset: start, cols: expect.any(Number), rows: expect.any(Number), writable: true },
        { type: "reset", offset: start },
      ]);
      expect(r.output.length).toBe(end - start);
    }
    // Inside the ring: exactly the missing bytes, no reset.
    const inside = attach(attachUrl(s, term.id, { since: end - 10 }), { headers: auth });
    await inside.waitFor("the-end");
    inside.ws.close();
    const r = await inside.result;
    expect(r.messages.some((m) => m.type === "reset")).toBe(false);
    expect(r.output.length).toBe(10);
    await api(s, owner)("DELETE", `/api/hosts/local/terminals/${term.id}`);
  });
});

describe(`a stalled writer (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let auth: Record<string, string> = {};
  beforeAll(async () => {
    s = await startServer({ args: [...AS_PROXY, "--terminal-stall", "2s"] });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    auth = { authorization: `Bearer ${owner}` };
  });
  afterAll(() => s.stop());

  test("holds the program back only until it counts as stalled; a second, fast client gets every byte and the exit", async () => {
    const { create } = terminals(s, owner);
    const term = await create(["sh", "-c", "sleep 1; head -c 6000000 /dev/zero | base64 -w 76"]);
    const stalled = attach(attachUrl(s, term.id), { headers: auth, ack: false });
    const fast = attach(attachUrl(s, term.id), { headers: auth });
    const r = await fast.result;
    expect(r.output.length).toBe(base64Bytes(6_000_000));
    expect(r.exit).toMatchObject({ code: 0 });
    expect(stalled.offset()).toBeLessThanOrEqual(1024 * 1024);
    stalled.ws.close();
  }, 60_000);
});
