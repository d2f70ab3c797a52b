// `warren host` end to end: a real server, a real host agent (its own WARREN_HOME and HOME,
// started with --daemon and an API key), real PTYs on the host, clients over WebSocket and
// `warren term attach --host`. Every route a client uses is the same as for the local host.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { api, AS_PROXY, issued, json, ownerSession, pairingLink, sessionFrom } from "./auth-helpers";
import { cleanup, DIALECT, MAIN, runWarren, startServer, tempDir, waitUntil, type TestServer } from "./harness";
import { attach } from "./term-helpers";

afterAll(cleanup);

type Host = { id: string; name: string; online: boolean; lastSeen: string; local: boolean };
type Terminal = { id: string; hostId: string; offset: number };

/** A port nothing listens on right now, for a server that must come back on the same address. */
function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** A host agent's home; stops whatever agent it ran when the tests end. */
function hostHome() {
  const home = tempDir("warren-host-");
  const env = { WARREN_HOME: home, HOME: home };
  afterAll(async () => {
    await runWarren(["host", "stop"], { env });
  });
  return { home, env, pid: () => (JSON.parse(readFileSync(join(home, "host", "state.json"), "utf8")) as { pid: number }).pid };
}

describe(`warren host through the relay (${DIALECT})`, () => {
  let s: TestServer;
  let port = 0;
  let dataDir = "";
  let owner = "";
  let key = "";
  let auth: Record<string, string> = {};
  const agent = hostHome();
  let hostId = "";
  const clientEnv = { WARREN_HOME: "" };

  const start = async () => {
    s = await startServer({ args: [...AS_PROXY, "--port", String(port)], dataDir, databaseUrl: s?.databaseUrl ?? undefined });
    return s;
  };

  beforeAll(async () => {
    port = freePort();
    dataDir = tempDir();
    s = await startServer({ args: [...AS_PROXY, "--port", String(port)], dataDir });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    auth = { authorization: `Bearer ${owner}` };
    const org = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    key = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "box", organizationId: org }))).key;
    issued.push(key);
    clientEnv.WARREN_HOME = tempDir();
    expect((await runWarren(["auth", "login", `${s.url}/pair#token=${await pairingLink(s, owner)}`], { env: clientEnv })).code).toBe(0);
  });
  afterAll(() => s.stop());

  const hosts = async () => (await json<{ hosts: Host[] }>(api(s, owner)("GET", "/api/hosts"))).hosts;
  const wsUrl = (path: string) => `${s.url.replace(/^http/, "ws")}${path}`;
  const create = async (cmd: string[]) => {
    const r = await api(s, owner)("POST", `/api/hosts/${hostId}/terminals`, { cmd });
    expect(r.status).toBe(201);
    return (await r.json()) as Terminal;
  };

  test("a bad API key: exit 1 with the server's 401 reason, no agent left behind", async () => {
    const bad = hostHome();
    const r = await runWarren(["host", "start", "--daemon", "--server", s.url, "--name", "nope"], {
      env: { ...bad.env, WARREN_API_KEY: "sk_live_" + "x".repeat(43) },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("missing or invalid credentials (HTTP 401)");
    const status = await runWarren(["host", "status", "--json"], { env: bad.env });
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({ running: false });
  });

  test("an unreachable server: exit 1 saying so", async () => {
    const r = await runWarren(["host", "start", "--daemon", "--server", `http://127.0.0.1:${freePort()}`, "--name", "nope"], {
      env: { ...hostHome().env, WARREN_API_KEY: key },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("cannot reach warren at");
  });

  test("host start --daemon with an API key returns once connected; status says so; the host is listed online", async () => {
    const r = await runWarren(["host", "start", "--daemon", "--server", s.url, "--name", "box"], { env: { ...agent.env, WARREN_API_KEY: key } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("connected: box");
    const status = await runWarren(["host", "status", "--json"], { env: agent.env });
    expect(status.code).toBe(0);
    const st = JSON.parse(status.stdout);
    expect(st).toMatchObject({ running: true, status: "connected", server: s.url, name: "box", pid: agent.pid() });
    expect(Date.parse(st.connectedSince)).toBeGreaterThan(0);
    hostId = st.hostId;
    expect((await hosts()).find((h) => h.name === "box")).toMatchObject({ id: hostId, online: true, local: false });
    // The key never reached the agent's argv, so `ps` cannot show it.
    expect(readFileSync(`/proc/${agent.pid()}/cmdline`, "utf8")).not.toContain(key);
  });

  test("a terminal on the host through the relay: create, list, attach over WebSocket, exit code", async () => {
    const t = await create(["sh", "-c", "echo on-the-host HOME=$HOME; read x; echo got-$x; exit 5"]);
    expect(t.hostId).toBe(hostId);
    const list = await json<{ terminals: Terminal[] }>(api(s, owner)("GET", `/api/hosts/${hostId}/terminals`));
    expect(list.terminals.map((x) => x.id)).toContain(t.id);
    const a = attach(wsUrl(`/api/hosts/${hostId}/terminals/${t.id}/attach`), { headers: auth });
    await a.waitFor(`on-the-host HOME=${agent.home}`);
    a.send("hi\n");
    const r = await a.result;
    expect(new TextDecoder().decode(r.output)).toContain("got-hi");
    expect(r.exit).toEqual({ type: "exit", code: 5, signal: null });
    expect(r.closeCode).toBe(1000);
  });

  // Output is paced: a PTY cannot be paused, so a client that falls more than the ring (1 MiB)
  // behind a flood is reset by design — on a loaded machine that is a matter of timing.
  const paced = (lines: number) => `i=0; while [ $i -lt ${lines / 5000} ]; do seq $((i*5000+1)) $((i*5000+5000)); i=$((i+1)); sleep 0.03; done`;

  test("no output is lost through the relay: 200000 lines, every one, then exit", async () => {
    const t = await create(["sh", "-c", `${paced(200_000)}; exit 3`]);
    const r = await attach(wsUrl(`/api/hosts/${hostId}/terminals/${t.id}/attach`), { headers: auth }).result;
    const expected = Array.from({ length: 200_000 }, (_, i) => String(i + 1)).join("\r\n") + "\r\n";
    expect(new TextDecoder().decode(r.output) === expected).toBe(true);
    expect(r.exit?.code).toBe(3);
  });

  test("warren term attach --host <name> works through the relay", async () => {
    const created = await runWarren(["term", "new", "--host", "box", "--", "sh", "-c", "read x; echo cli-got-$x; exit 7"], { env: clientEnv });
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    const p = Bun.spawn([process.execPath, MAIN, "term", "attach", "--host", "box", id], { env: { ...process.env, ...clientEnv }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    p.stdin.write("hello\n");
    p.stdin.flush();
    expect(await p.exited).toBe(7);
    expect(await new Response(p.stdout).text()).toContain("cli-got-hello");
  });

  test("a stalled client does not slow a second client on the same host", async () => {
    const t = await create(["sh", "-c", `sleep 0.5; ${paced(300_000)}; exit 0`]);
    const stalled = attach(wsUrl(`/api/hosts/${hostId}/terminals/${t.id}/attach`), { headers: auth, ack: false });
    const live = attach(wsUrl(`/api/hosts/${hostId}/terminals/${t.id}/attach`), { headers: auth });
    const r = await live.result;
    const expected = Array.from({ length: 300_000 }, (_, i) => String(i + 1)).join("\r\n") + "\r\n";
    expect(r.output.length).toBe(expected.length);
    expect(r.exit?.code).toBe(0);
    // The stalled one got at most its window (1 MiB) and is still waiting, without its exit.
    expect(stalled.offset()).toBeLessThanOrEqual(1024 * 1024);
    expect(stalled.ws.readyState).toBe(WebSocket.OPEN);
    stalled.ws.close();
    await stalled.result;
  });

  test("another organization cannot see or reach the host", async () => {
    // A user invited into a second org only (the owner makes the org, invites them, leaves it to them).
    const orgB = (await json<{ id: string }>(api(s, owner)("POST", "/api/orgs", { name: "B", slug: "org-b" }))).id;
    const inviteToken = await pairingLink(s, owner, { invite: { email: "b@example.com", organizationId: orgB, role: "owner" } });
    const b = await sessionFrom(s, inviteToken);
    const asB = api(s, b);
    const me = await json<{ organizations: { id: string }[] }>(asB("GET", "/api/auth/session"));
    expect(me.organizations.map((o) => o.id)).toEqual([orgB]);
    const listed = await json<{ hosts: Host[] }>(asB("GET", "/api/hosts"));
    expect(listed.hosts.find((h) => h.id === hostId || h.name === "box")).toBeUndefined();
    for (const ref of [hostId, "box"]) {
      expect((await asB("GET", `/api/hosts/${ref}/terminals`)).status).toBe(404);
      expect((await asB("POST", `/api/hosts/${ref}/terminals`, { cmd: ["true"] })).status).toBe(404);
    }
    const t = await create(["sh", "-c", "sleep 30"]);
    expect((await asB("DELETE", `/api/hosts/${hostId}/terminals/${t.id}`)).status).toBe(404);
    const upgrade = await fetch(`${s.url}/api/hosts/${hostId}/terminals/${t.id}/attach`, {
      headers: { authorization: `Bearer ${b}`, connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" },
    });
    expect(upgrade.status).toBe(404);
    await api(s, owner)("DELETE", `/api/hosts/${hostId}/terminals/${t.id}`);
  });

  test("server restart: the host comes back by itself and a terminal reattaches with exact replay", async () => {
    const t = await create(["sh", "-c", "i=0; while :; do i=$((i+1)); echo tick-$i; sleep 0.05; done"]);
    const first = attach(wsUrl(`/api/hosts/${hostId}/terminals/${t.id}/attach`), { headers: auth });
    await first.waitFor("tick-5");
    expect(await s.stop()).toBe(0);
    const part1 = await first.result;
    expect(part1.closeCode).toBe(1001); // come back later
    await start();
    await waitUntil(async () => (await hosts()).find((h) => h.id === hostId)?.online === true, 20_000, "the host to reconnect");
    const status = JSON.parse((await runWarren(["host", "status", "--json"], { env: agent.env })).stdout);
    expect(status.status).toBe("connected");
    const second = attach(wsUrl(`/api/hosts/${hostId}/terminals/${t.id}/attach?since=${part1.offset}`), { headers: auth });
    const lastBefore = Number(/tick-(\d+)\r\n$/.exec(new TextDecoder().decode(part1.output))![1]);
    await second.waitFor(`tick-${lastBefore + 3}\r\n`);
    second.ws.close();
    const part2 = await second.result;
    expect(part2.hello.offset).toBe(part1.offset);
    const joined = new TextDecoder().decode(part1.output) + new TextDecoder().decode(part2.output);
    const ticks = joined.split("\r\n").filter(Boolean).map((l) => Number(l.replace("tick-", "")));
    ticks.forEach((n, i) => expect(n).toBe(i + 1)); // contiguous across the restart: no gap, no repeat
    await api(s, owner)("DELETE", `/api/hosts/${hostId}/terminals/${t.id}`);
  });

  test("kill the host: attached clients get a clean close (4503), the host shows offline, status says not running", async () => {
    const t = await create(["sh", "-c", "echo waiting; sleep 60"]);
    const a = attach(wsUrl(`/api/hosts/${hostId}/terminals/${t.id}/attach`), { headers: auth });
    await a.waitFor("waiting");
    process.kill(agent.pid(), "SIGKILL");
    const r = await a.result;
    expect(r.closeCode).toBe(4503);
    await waitUntil(async () => (await hosts()).find((h) => h.id === hostId)?.online === false, 10_000, "offline");
    const gone = await api(s, owner)("GET", `/api/hosts/${hostId}/terminals`);
    expect(gone.status).toBe(503);
    expect(((await gone.json()) as { error: { message: string } }).error.message).toContain("box is not connected");
    expect((await runWarren(["host", "status"], { env: agent.env })).code).toBe(1);
  });
});
