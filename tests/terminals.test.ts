// Terminals on the built-in local host (SPEC §5), through real WebSockets and real PTYs.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { api, AS_PROXY, issued, json, ownerSession, pair, pairingLink, printedPairingToken, sessionFrom } from "./auth-helpers";
import { cleanup, DIALECT, MAIN, startServer, tempDir, waitUntil, type TestServer } from "./harness";
import { attach, attachUrl } from "./term-helpers";

afterAll(cleanup);

type Terminal = { id: string; offset: number; attached: number; exit: { code: number | null; signal: string | null } | null };

describe(`terminals (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let auth: Record<string, string> = {};
  beforeAll(async () => {
    // --terminal-stall 2s: a client that stops acking holds its program back for 2 s, not 30.
    s = await startServer({ args: [...AS_PROXY, "--terminal-idle", "2s", "--terminal-stall", "2s"] });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    auth = { authorization: `Bearer ${owner}` };
  });
  afterAll(() => s.stop());

  const create = async (cmd: string[], extra: Record<string, unknown> = {}) => {
    const r = await api(s, owner)("POST", "/api/hosts/local/terminals", { cmd, ...extra });
    expect(r.status).toBe(201);
    return (await r.json()) as Terminal;
  };
  const list = async () => (await json<{ terminals: Terminal[] }>(api(s, owner)("GET", "/api/hosts/local/terminals"))).terminals;

  test("the local host is listed for members of its organization", async () => {
    const hosts = await json<{ hosts: { id: string; online: boolean }[] }>(api(s, owner)("GET", "/api/hosts"));
    expect(hosts.hosts).toEqual([expect.objectContaining({ id: "local", online: true, local: true })]);
  });

  test("no output is lost: `seq 1 200000; exit 3`, twenty times, every line then exit 3 then close 1000", async () => {
    const expected = Array.from({ length: 200_000 }, (_, i) => String(i + 1)).join("\r\n") + "\r\n";
    for (let run = 0; run < 20; run++) {
      const t = await create(["sh", "-c", "seq 1 200000; exit 3"]);
      const r = await attach(attachUrl(s, t.id), { headers: auth }).result;
      expect(r.hello.offset).toBe(0);
      const text = new TextDecoder().decode(r.output);
      expect(text.length).toBe(expected.length);
      expect(text === expected).toBe(true);
      expect(r.exit).toEqual({ type: "exit", code: 3, signal: null });
      expect(r.closeCode).toBe(1000);
    }
  }, 120_000);

  test("reattaching with since gets exactly the missing bytes, no duplicates", async () => {
    const t = await create(["sh", "-c", "for i in 1 2 3 4 5 6; do echo line-$i; sleep 0.15; done; sleep 30"]);
    const first = attach(attachUrl(s, t.id), { headers: auth });
    await first.waitFor("line-2");
    first.ws.close();
    const part1 = await first.result;
    await waitUntil(async () => (await list()).find((x) => x.id === t.id)!.offset > part1.offset && (await list()).find((x) => x.id === t.id)!.offset >= 48, 10_000, "more output");
    await Bun.sleep(1200);
    const second = attach(attachUrl(s, t.id, { since: part1.offset }), { headers: auth });
    await second.waitFor("line-6");
    second.ws.close();
    const part2 = await second.result;
    expect(part2.hello.offset).toBe(part1.offset);
    const full = attach(attachUrl(s, t.id, { since: 0 }), { headers: auth });
    await full.waitFor("line-6");
    full.ws.close();
    const whole = await full.result;
    const joined = new TextDecoder().decode(new Uint8Array([...part1.output, ...part2.output]));
    expect(joined).toBe(new TextDecoder().decode(whole.output));
    expect(joined.match(/line-2/g)).toHaveLength(1);
    await api(s, owner)("DELETE", `/api/hosts/local/terminals/${t.id}`);
  });

  test("two clients see identical streams", async () => {
    const t = await create(["sh", "-c", "sleep 0.5; seq 1 30000; exit 0"]);
    const a = attach(attachUrl(s, t.id), { headers: auth });
    const b = attach(attachUrl(s, t.id), { headers: auth });
    const [ra, rb] = await Promise.all([a.result, b.result]);
    expect(ra.output.length).toBeGreaterThan(150_000);
    expect(Buffer.from(ra.output).equals(Buffer.from(rb.output))).toBe(true);
    expect(ra.exit?.code).toBe(0);
    expect(rb.exit?.code).toBe(0);
  });

  test("a view-only client neither writes nor resizes", async () => {
    const t = await create(["sh"], { cols: 90, rows: 30 });
    const writer = attach(attachUrl(s, t.id), { headers: auth });
    const viewer = attach(attachUrl(s, t.id, { mode: "view", cols: 40, rows: 10 }), { headers: auth });
    const hello = await new Promise<{ writable: boolean; cols: number }>((resolve) => {
      viewer.ws.addEventListener("message", (e) => typeof e.data === "string" && resolve(JSON.parse(e.data)), { once: true });
    });
    expect(hello.writable).toBe(false);
    expect(hello.cols).toBe(90);
    await Bun.sleep(200);
    viewer.send("echo view-wrote-this\n");
    viewer.ws.send(JSON.stringify({ type: "resize", cols: 20, rows: 5 })); // after hello: open
    writer.send("echo $((6*7))-writer; stty size\n");
    await writer.waitFor("42-writer");
    await writer.waitFor("30 90");
    await Bun.sleep(300);
    expect(writer.text()).not.toContain("view-wrote-this");
    expect((await list()).find((x) => x.id === t.id)).toMatchObject({ cols: 90, rows: 30 } as object);
    writer.send("exit\n");
    expect((await writer.result).exit?.code).toBe(0);
  });

  test("resize from a writer reaches the program", async () => {
    const t = await create(["sh"]);
    const c = attach(attachUrl(s, t.id, { cols: 100, rows: 40 }), { headers: auth });
    c.send("stty size\n");
    await c.waitFor("40 100");
    c.ws.send(JSON.stringify({ type: "resize", cols: 132, rows: 43 })); // open: "40 100" came back
    await Bun.sleep(100);
    c.send("stty size; exit 0\n");
    await c.waitFor("43 132");
    await c.result;
  });

  test("a client that stops acknowledging costs bounded memory while 50 MB is printed", async () => {
    const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${s.proc.pid}/status`, "utf8"))![1]) * 1024;
    const before = rss();
    let peak = before;
    const t = await create(["sh", "-c", "head -c 37500000 /dev/zero | base64 -w 0; echo; echo done-flooding; sleep 30"]);
    const stalled = attach(attachUrl(s, t.id), { headers: auth, ack: false });
    await waitUntil(async () => {
      peak = Math.max(peak, rss());
      return (await list()).find((x) => x.id === t.id)!.offset >= 50_000_000;
    }, 60_000, "50 MB of output");
    peak = Math.max(peak, rss());
    expect(stalled.offset()).toBeLessThanOrEqual(1024 * 1024); // its window, no more
    // The ring may grow to 16× for the output already on its way when the program was paused
    // for this writer (during its 2 s before it counts as stalled); then window + 16 MiB of slack.
    expect(peak - before).toBeLessThan(16 * 1024 * 1024 + 1024 * 1024 + 16 * 1024 * 1024);
    console.log(`memory growth while 50 MB went past a stalled client: ${((peak - before) / 1048576).toFixed(1)} MiB`);
    // Catching up after the flood: the bytes left the ring, so the client is reset to it.
    stalled.ws.send(JSON.stringify({ type: "ack", offset: stalled.offset() }));
    await stalled.waitFor("done-flooding", 20_000);
    expect((await new Promise<string>((r) => setTimeout(() => r("ok"), 10)))).toBe("ok");
    await api(s, owner)("DELETE", `/api/hosts/local/terminals/${t.id}`);
    stalled.ws.close();
  }, 90_000);

  test("kill: SIGHUP ends the program; attached clients get exit then close 1000", async () => {
    const t = await create(["sh", "-c", "echo started; sleep 60"]);
    const c = attach(attachUrl(s, t.id), { headers: auth });
    await c.waitFor("started");
    expect((await api(s, owner)("DELETE", `/api/hosts/local/terminals/${t.id}`)).status).toBe(202);
    const r = await c.result;
    expect(r.exit).toMatchObject({ type: "exit", signal: "SIGHUP" });
    expect(r.closeCode).toBe(1000);
    expect((await list()).find((x) => x.id === t.id)!.exit).toMatchObject({ signal: "SIGHUP" });
  });

  test("a program that ignores SIGHUP is killed 5 s later", async () => {
    const t = await create(["sh", "-c", "trap '' HUP; echo ready; sleep 60"]);
    const c = attach(attachUrl(s, t.id), { headers: auth });
    await c.waitFor("ready");
    await api(s, owner)("DELETE", `/api/hosts/local/terminals/${t.id}`);
    const r = await c.result;
    expect(r.exit?.signal).toBe("SIGKILL");
  }, 20_000);

  test("an idle session (nobody attached for --terminal-idle) ends", async () => {
    const t = await create(["sh", "-c", "sleep 60"]);
    const c = attach(attachUrl(s, t.id), { headers: auth });
    await new Promise((r) => c.ws.addEventListener("open", r, { once: true }));
    await Bun.sleep(200);
    c.ws.close();
    await waitUntil(async () => (await list()).find((x) => x.id === t.id)?.exit != null, 10_000, "the idle session to end");
  });

  test("bad input is a clear 4xx", async () => {
    const bad: Record<string, unknown>[] = [{ cols: 0 }, { rows: 100_000 }, { cmd: [] }, { cwd: "relative/dir" }, { cwd: "/no/such/dir" }, { env: { "BAD-NAME": "x" } }, { cmd: "sh" }];
    for (const body of bad) {
      const r = await api(s, owner)("POST", "/api/hosts/local/terminals", body);
      expect([JSON.stringify(body), r.status]).toEqual([JSON.stringify(body), 400]);
    }
    expect((await api(s, owner)("POST", "/api/hosts/nope/terminals", {})).status).toBe(404);
    expect((await api(s, owner)("DELETE", "/api/hosts/local/terminals/term_nope")).status).toBe(404);
  });
});

describe(`terminal access (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let tid = "";
  beforeAll(async () => {
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    tid = (await json<Terminal>(api(s, owner)("POST", "/api/hosts/local/terminals", { cmd: ["sh", "-c", "echo access-ok; sleep 60"] }))).id;
  });
  afterAll(() => s.stop());

  /** The upgrade's answer without completing a handshake: the HTTP status of a refused upgrade. */
  const upgradeStatus = async (url: string, headers: Record<string, string> = {}) =>
    (
      await fetch(url.replace(/^ws/, "http"), {
        headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13", ...headers },
      })
    ).status;

  test("no credential, a bad one, or another org's user: the upgrade is refused (401/404), never completed", async () => {
    expect(await upgradeStatus(attachUrl(s, tid))).toBe(401);
    expect(await upgradeStatus(attachUrl(s, tid), { authorization: `Bearer wss_${"x".repeat(43)}` })).toBe(401);
    const ws = attach(attachUrl(s, tid));
    await expect(ws.result).rejects.toThrow("closed before hello");
    const carol = await sessionFrom(s, await pairingLink(s, owner, { invite: { email: "carol@example.com", organizationId: (await json<{ organizations: { id: string }[] }>(api(s, owner)("GET", "/api/orgs"))).organizations[0]!.id, role: "member" } }));
    const other = await json<{ id: string }>(api(s, carol)("POST", "/api/orgs", { name: "Elsewhere", slug: "elsewhere" }));
    const dave = await sessionFrom(s, await pairingLink(s, carol, { invite: { email: "dave@example.com", organizationId: other.id, role: "owner" } }));
    expect(await upgradeStatus(attachUrl(s, tid), { authorization: `Bearer ${dave}` })).toBe(404);
    expect((await api(s, dave)("GET", "/api/hosts")).status).toBe(200);
    expect((await json<{ hosts: unknown[] }>(api(s, dave)("GET", "/api/hosts"))).hosts).toEqual([]);
    expect((await api(s, dave)("GET", "/api/hosts/local/terminals")).status).toBe(404);
    expect((await api(s, dave)("DELETE", `/api/hosts/local/terminals/${tid}`)).status).toBe(404);
    // A member of the host's org may attach.
    const c = attach(attachUrl(s, tid), { headers: { authorization: `Bearer ${carol}` } });
    await c.waitFor("access-ok");
    c.ws.close();
  });

  test("an API key works in both header shapes on the upgrade; a key of another org does not", async () => {
    const orgs = (await json<{ organizations: { id: string }[] }>(api(s, owner)("GET", "/api/orgs"))).organizations;
    const key = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "ws", organizationId: orgs[0]!.id }))).key;
    issued.push(key);
    const shapes: Record<string, string>[] = [{ "x-api-key": key }, { authorization: `Bearer ${key}` }];
    for (const headers of shapes) {
      const c = attach(attachUrl(s, tid), { headers });
      await c.waitFor("access-ok");
      c.ws.close();
    }
    const elsewhere = await json<{ id: string }>(api(s, owner)("POST", "/api/orgs", { name: "Second", slug: "second" }));
    const otherKey = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "ws2", organizationId: elsewhere.id }))).key;
    issued.push(otherKey);
    expect(await upgradeStatus(attachUrl(s, tid), { "x-api-key": otherKey })).toBe(404);
    expect(await upgradeStatus(attachUrl(s, tid) + `?api_key=${key}`)).toBe(401);
    const jwt = (await json<{ token: string }>(api(s, null, { "x-api-key": key })("GET", "/api/auth/token"))).token;
    issued.push(jwt);
    const c = attach(attachUrl(s, tid), { headers: { authorization: `Bearer ${jwt}` } });
    await c.waitFor("access-ok");
    c.ws.close();
  });

  test("a browser cookie needs our Origin on the upgrade (cross-site WebSocket hijacking)", async () => {
    const link = await pairingLink(s, owner);
    const r = await pair(s, link, "browser");
    const cookie = r.headers.get("set-cookie")!.split(";")[0]!;
    expect(await upgradeStatus(attachUrl(s, tid), { cookie })).toBe(403);
    expect(await upgradeStatus(attachUrl(s, tid), { cookie, origin: "https://evil.example" })).toBe(403);
    const c = attach(attachUrl(s, tid), { headers: { cookie, origin: s.url } });
    await c.waitFor("access-ok");
    c.ws.close();
  });

  test("a WebSocket ticket works once, and only for a session", async () => {
    const { ticket } = await json<{ ticket: string }>(api(s, owner)("POST", "/api/ws-ticket"));
    issued.push(ticket);
    const c = attach(attachUrl(s, tid, { ticket }));
    await c.waitFor("access-ok");
    c.ws.close();
    expect(await upgradeStatus(attachUrl(s, tid, { ticket }))).toBe(401);
    expect(await upgradeStatus(attachUrl(s, tid, { ticket: "made-up" }))).toBe(401);
    const orgs = (await json<{ organizations: { id: string }[] }>(api(s, owner)("GET", "/api/orgs"))).organizations;
    const key = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "t", organizationId: orgs[0]!.id }))).key;
    issued.push(key);
    expect((await api(s, null, { "x-api-key": key })("POST", "/api/ws-ticket")).status).toBe(403);
    // The ticket dies with its session.
    const second = await sessionFrom(s, await pairingLink(s, owner));
    const t2 = (await json<{ ticket: string }>(api(s, second)("POST", "/api/ws-ticket"))).ticket;
    issued.push(t2);
    await api(s, second)("POST", "/api/auth/sign-out");
    expect(await upgradeStatus(attachUrl(s, tid, { ticket: t2 }))).toBe(401);
    expect(s.stderr()).not.toContain(ticket);
    expect(printedPairingToken(s).length).toBeGreaterThan(0);
  });
});

describe(`terminals and shutdown (${DIALECT})`, () => {
  test("SIGTERM with an attached client: it is told to come back (1001) and the server exits 0 at once", async () => {
    const s = await startServer();
    await s.waitFor(/\/pair#token=/);
    const owner = await ownerSession(s);
    const t = await json<Terminal>(api(s, owner)("POST", "/api/hosts/local/terminals", { cmd: ["sh", "-c", "echo up; sleep 60"] }));
    const c = attach(attachUrl(s, t.id), { headers: { authorization: `Bearer ${owner}` } });
    await c.waitFor("up");
    const t0 = Date.now();
    s.proc.kill("SIGTERM");
    const r = await c.result;
    expect(r.closeCode).toBe(1001);
    expect(await s.exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(9_000); // not held open until the 10 s drain limit
  });
});

describe(`warren term attach on a real TTY (${DIALECT})`, () => {
  test("raw mode, window size, resize on SIGWINCH, Ctrl-\\ detaches", async () => {
    const s = await startServer();
    await s.waitFor(/\/pair#token=/);
    const home = tempDir();
    const login = Bun.spawnSync([process.execPath, MAIN, "auth", "login", `${s.url}/pair#token=${printedPairingToken(s)}`], { env: { ...process.env, WARREN_HOME: home } });
    expect(login.exitCode).toBe(0);
    const id = new TextDecoder().decode(Bun.spawnSync([process.execPath, MAIN, "term", "new", "--", "sh"], { env: { ...process.env, WARREN_HOME: home } }).stdout).trim();
    let screen = "";
    const cli = Bun.spawn([process.execPath, MAIN, "term", "attach", id], {
      env: { ...process.env, WARREN_HOME: home },
      terminal: { cols: 100, rows: 30, data: (_t, d) => (screen += new TextDecoder().decode(d)) },
    });
    const until = (text: string) => waitUntil(() => screen.includes(text), 10_000, JSON.stringify(text));
    await Bun.sleep(500);
    cli.terminal!.write("stty size\r");
    await until("30 100");
    cli.terminal!.resize(120, 40);
    await Bun.sleep(300);
    cli.terminal!.write("stty size; echo raw-$((3*3))\r");
    await until("40 120");
    await until("raw-9");
    cli.terminal!.write("\x1c");
    expect(await cli.exited).toBe(0);
    expect(screen).toContain("detached");
    await s.stop();
  });
});
