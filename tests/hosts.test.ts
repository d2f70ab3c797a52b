// Hosts as first-class objects: what GET /api/hosts says about each (kind, platform, version,
// connected since / last seen), names that cannot be confused (a defaulted name is suffixed, an
// explicit clash refused, reconnects and renames keep the row), rename and remove for owners and
// admins (403 for members, 404 outside the org), and `warren host ls | rm | rename`. Real agents
// (`warren host start --daemon`, each with its own WARREN_HOME) against a real server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { AS_PROXY, api, issued, json, ownerSession, pairingLink, sessionFrom } from "./auth-helpers";
import { cleanup, DIALECT, runWarren, startServer, tempDir, waitUntil, type TestServer } from "./harness";
import type { HostEntry } from "../server/relay/directory";

afterAll(cleanup);

type Host = HostEntry;

/** A host agent's home (its own instance id); the agent is stopped when the tests end. */
function agentHome() {
  const home = tempDir("warren-host-");
  const env = { WARREN_HOME: home, HOME: home };
  afterAll(async () => void (await runWarren(["host", "stop"], { env })));
  return { env, state: () => JSON.parse(readFileSync(join(home, "host", "state.json"), "utf8")) as { pid: number; hostId?: string; listedAs?: string; lastError?: string } };
}

/** The name `warren host start` gives this machine when none is chosen. */
const machine = hostname().split(".")[0]!.replace(/[^A-Za-z0-9._-]/g, "-").replace(/^[^A-Za-z0-9]+/, "").slice(0, 63) || "host";

describe(`hosts: identity, rename, remove (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let org = "";
  let key = "";
  let member = "";
  let outsider = "";
  const a = agentHome();
  const b = agentHome();
  const c = agentHome();
  const d = agentHome();
  const e = agentHome();
  const cli = { WARREN_HOME: "" };

  beforeAll(async () => {
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    org = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    key = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "hosts", organizationId: org }))).key;
    issued.push(key);
    member = await sessionFrom(s, await pairingLink(s, owner, { invite: { email: "mo@example.com", organizationId: org, role: "member" } }));
    const other = await json<{ id: string }>(api(s, owner)("POST", "/api/orgs", { slug: "elsewhere", name: "Elsewhere" }));
    outsider = await sessionFrom(s, await pairingLink(s, owner, { invite: { email: "eve@example.com", organizationId: other.id, role: "owner" } }));
    cli.WARREN_HOME = tempDir();
    expect((await runWarren(["auth", "login", `${s.url}/pair#token=${await pairingLink(s, owner)}`], { env: cli })).code).toBe(0);
  });
  afterAll(() => s.stop());

  const hosts = async (token = owner) => (await json<{ hosts: Host[] }>(api(s, token)("GET", "/api/hosts"))).hosts;
  const start = (home: ReturnType<typeof agentHome>, ...args: string[]) => runWarren(["host", "start", "--daemon", "--server", s.url, ...args], { env: { ...home.env, WARREN_API_KEY: key } });
  const warren = (...args: string[]) => runWarren([...args, "--server", s.url], { env: cli });

  test("the server's own host is listed as local, with platform, version and since when", async () => {
    const [local] = await hosts();
    expect(local).toMatchObject({ id: "local", name: hostname(), kind: "local", local: true, online: true, platform: `${process.platform}-${process.arch}` });
    expect(local!.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Date.parse(local!.connectedSince!)).toBeLessThanOrEqual(Date.now());
  });

  test("a defaulted name never repeats another host's: the server's own name and an earlier agent's get a suffix, said at start", async () => {
    const first = await start(a);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`connected: ${machine}-2 (${machine} is another machine's)`);
    const second = await start(b);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`connected: ${machine}-3`);
    const list = await hosts();
    expect(list.map((h) => h.name)).toEqual([hostname(), `${machine}-2`, `${machine}-3`]);
    const remote = list.find((h) => h.name === `${machine}-2`)!;
    expect(remote).toMatchObject({ kind: "remote", local: false, online: true, platform: `${process.platform}-${process.arch}` });
    expect(remote.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Date.parse(remote.connectedSince!)).toBeGreaterThan(0);
    expect(a.state().listedAs).toBe(`${machine}-2`);
    const status = JSON.parse((await runWarren(["host", "status", "--json"], { env: a.env })).stdout);
    expect(status.name).toBe(`${machine}-2`);
  });

  test("a restarted agent is the same host (same id and name), not a new one", async () => {
    const id = a.state().hostId;
    expect((await runWarren(["host", "stop"], { env: a.env })).code).toBe(0);
    await waitUntil(async () => (await hosts()).find((h) => h.id === id)?.online === false, 10_000, "offline");
    const offline = (await hosts()).find((h) => h.id === id)!;
    expect(offline.connectedSince).toBeNull();
    expect(Date.parse(offline.lastSeen)).toBeGreaterThan(0);
    expect((await start(a)).code).toBe(0);
    expect(a.state().hostId).toBe(id);
    expect((await hosts()).filter((h) => h.kind === "remote").map((h) => h.name)).toEqual([`${machine}-2`, `${machine}-3`]);
  });

  test("an explicit name another machine holds is refused, saying whose it is and what to do", async () => {
    expect((await start(c, "--name", "box")).code).toBe(0);
    const clash = await start(d, "--name", "box");
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain('the host name "box" belongs to another machine');
    expect(clash.stderr).toContain("warren host rm box");
    // Nor may a remote host take the server's own host's name.
    const local = await start(e, "--name", hostname());
    expect(local.code).toBe(1);
    expect(local.stderr).toContain("belongs to the server's own host");
    expect((await hosts()).filter((h) => h.name === "box")).toHaveLength(1);
  });

  test("warren host ls lists every host with its facts; --json is the API's list", async () => {
    const ls = await warren("host", "ls");
    expect(ls.code).toBe(0);
    const lines = ls.stdout.trim().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines.find((l) => l.startsWith("box "))).toMatch(/remote\s+online since \S+\s+\S+-\S+ v\d/);
    expect(lines[0]).toMatch(new RegExp(`^${hostname().replace(/[.]/g, "\\.")}\\s+local\\s+online`));
    const listed = JSON.parse((await warren("host", "ls", "--json")).stdout) as Host[];
    expect(listed.map((h) => h.id)).toEqual((await hosts()).map((h) => h.id));
  });

  test("only owners and admins rename or remove; another org cannot even see the host", async () => {
    const box = (await hosts()).find((h) => h.name === "box")!;
    for (const [method, body] of [["PATCH", { name: "x" }], ["DELETE", undefined]] as const) {
      const r = await api(s, member)(method, `/api/hosts/${box.id}`, body);
      expect(r.status).toBe(403);
      expect(await r.text()).toContain("only owners and admins can manage hosts");
      expect((await api(s, outsider)(method, `/api/hosts/${box.id}`, body)).status).toBe(404);
    }
    expect((await api(s, owner)("PATCH", `/api/hosts/${box.id}`, { name: "bad name!" })).status).toBe(400);
    expect((await api(s, owner)("PATCH", `/api/hosts/${box.id}`, { name: `${machine}-3` })).status).toBe(409);
    expect((await api(s, owner)("PATCH", "/api/hosts/local", { name: "x" })).status).toBe(400);
    expect((await api(s, owner)("DELETE", "/api/hosts/local")).status).toBe(400);
    expect((await hosts()).find((h) => h.id === box.id)!.name).toBe("box");
  });

  test("rename keeps the connection and survives a reconnect; terminals are reached by the new name", async () => {
    const box = (await hosts()).find((h) => h.name === "box")!;
    // An empty host's listing suggests starting a terminal on that host, not on the server's own.
    expect((await warren("term", "ls", "--host", "box")).stdout.trim()).toBe("no terminals; start one with: warren term new --host box --attach");
    const r = await warren("host", "rename", "box", "build-box");
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("renamed box to build-box");
    expect((await hosts()).find((h) => h.id === box.id)).toMatchObject({ name: "build-box", online: true });
    expect((await api(s, owner)("POST", "/api/hosts/build-box/terminals", { cmd: ["true"] })).status).toBe(201);
    // The agent still asks for tokens as "box"; its instance id brings it back to its row.
    expect((await runWarren(["host", "stop"], { env: c.env })).code).toBe(0);
    expect((await start(c, "--name", "box")).code).toBe(0);
    expect((await hosts()).filter((h) => h.kind === "remote").map((h) => [h.id === box.id, h.name])).toContainEqual([true, "build-box"]);
    expect((await hosts()).some((h) => h.name === "box")).toBe(false);
  });

  test("remove: a connected host is disconnected and its agent stops for good; an offline one just goes", async () => {
    const box = (await hosts()).find((h) => h.name === "build-box")!;
    const pid = c.state().pid;
    const r = await warren("host", "rm", "build-box");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("removed host build-box");
    expect((await hosts()).some((h) => h.id === box.id)).toBe(false);
    await waitUntil(() => !alive(pid), 10_000, "the removed host's agent to exit");
    expect(c.state().lastError).toContain("removed this host");
    // An offline host (its agent killed) is removed the same way, by id.
    const id = b.state().hostId!;
    process.kill(b.state().pid, "SIGKILL");
    await waitUntil(async () => (await hosts()).find((h) => h.id === id)?.online === false, 15_000, "offline");
    expect((await warren("host", "rm", id)).code).toBe(0);
    expect((await hosts()).some((h) => h.id === id)).toBe(false);
    const again = await warren("host", "rm", id);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("no such host");
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}
