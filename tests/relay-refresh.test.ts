// Host JWTs expire (here after 3 s instead of 15 min): the agent refreshes its token in place,
// and a live terminal through the relay loses nothing; a host that does not refresh is dropped.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, AS_PROXY, issued, json, ownerSession } from "./auth-helpers";
import { cleanup, DIALECT, spawnWarren, startServer, tempDir, waitUntil, type Proc, type TestServer } from "./harness";
import { attach } from "./term-helpers";
import { decode, encode, FRAME } from "../relay/codec";

afterAll(cleanup);

describe(`host token refresh (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let key = "";
  beforeAll(async () => {
    s = await startServer({ args: [...AS_PROXY, "--jwt-lifetime", "3s", "--relay-heartbeat", "250ms"] });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    const org = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    key = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "box", organizationId: org }))).key;
    issued.push(key);
  });
  afterAll(() => s.stop());

  test("across several token lifetimes a relayed terminal keeps flowing; the connection is never replaced", async () => {
    const home = tempDir("warren-host-");
    const agent: Proc = spawnWarren(["host", "start", "--server", s.url, "--name", "refresher"], { env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: key } });
    await agent.waitFor(/connected: refresher/);
    const hostId = (await json<{ hosts: { id: string; name: string }[] }>(api(s, owner)("GET", "/api/hosts"))).hosts.find((h) => h.name === "refresher")!.id;
    const t = await json<{ id: string }>(api(s, owner)("POST", `/api/hosts/${hostId}/terminals`, { cmd: ["sh", "-c", "i=0; while :; do i=$((i+1)); echo r-$i; sleep 0.05; done"] }));
    const a = attach(`${s.url.replace(/^http/, "ws")}/api/hosts/${hostId}/terminals/${t.id}/attach`, { headers: { authorization: `Bearer ${owner}` } });
    await a.waitFor("r-3");
    const refreshes = () => s.logs().filter((l) => l.msg === "host token refreshed" && l.host === hostId).length;
    await waitUntil(() => refreshes() >= 3, 30_000, "three refreshes");
    // Past the first token's expiry several times over: still the same socket, same epoch.
    expect(a.ws.readyState).toBe(WebSocket.OPEN);
    expect(s.logs().filter((l) => l.msg === "host connected" && l.host === hostId)).toHaveLength(1);
    expect(s.logs().filter((l) => l.msg === "host disconnected" && l.host === hostId)).toHaveLength(0);
    expect(agent.stderr()).not.toContain("reconnect");
    a.ws.close();
    const r = await a.result;
    const ticks = new TextDecoder().decode(r.output).split("\r\n").filter(Boolean).map((l) => Number(l.replace("r-", "")));
    expect(ticks.length).toBeGreaterThan(3);
    ticks.forEach((n, i) => expect(n).toBe(i + 1));
    // No token in the server's log lines.
    expect(s.stderr()).not.toContain("eyJ");
    agent.proc.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
  }, 60_000);

  test("a host that lets its token expire is dropped (4401); a refreshed token for another host is refused", async () => {
    const token = async (name: string) => {
      const r = await json<{ token: string }>(api(s, null, { "x-api-key": key })("GET", `/api/auth/token?host=${name}`));
      issued.push(r.token);
      return r.token;
    };
    const dial = async (name: string) => {
      const ws = new WebSocket(`${s.url.replace(/^http/, "ws")}/relay/connect`, { headers: { authorization: `Bearer ${await token(name)}` } } as unknown as string[]);
      ws.binaryType = "arraybuffer";
      const closed = new Promise<number>((r) => (ws.onclose = (e) => r(e.code)));
      ws.onmessage = (e) => {
        const f = decode(new Uint8Array(e.data as ArrayBuffer))!;
        if (f.type === FRAME.PING) ws.send(encode(FRAME.PONG, 0, f.payload));
      };
      await new Promise((r) => ws.addEventListener("open", r, { once: true }));
      return { ws, closed };
    };
    const lazy = await dial("lazy");
    expect(await lazy.closed).toBe(4401);
    const impostor = await dial("honest");
    impostor.ws.send(encode(FRAME.TOKEN, 0, new TextEncoder().encode(await token("someone-else"))));
    expect(await impostor.closed).toBe(4401);
  }, 30_000);
});
