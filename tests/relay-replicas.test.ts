// Two replicas on one Postgres database (a data dir holds one server, so replicas are a
// Postgres matter): a host connected to replica A is listed and reachable from replica B —
// terminals, attach and exposed ports — with the client's credential checked again on A.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, AS_PROXY, issued, json, ownerSession, pairingLink, sessionFrom } from "./auth-helpers";
import { cleanup, DIALECT, PG_ADMIN_URL, spawnWarren, startServer, tempDir, type Proc, type TestServer } from "./harness";
import { attach } from "./term-helpers";
import { firstReply } from "./relay-helpers";

afterAll(cleanup);

type Host = { id: string; name: string; online: boolean };

describe.if(!!PG_ADMIN_URL)(`relay across replicas (${DIALECT})`, () => {
  let a: TestServer;
  let b: TestServer;
  let owner = "";
  let agent: Proc;
  let hostId = "";
  const origin = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, srv) => (new URL(req.url).pathname === "/ws" && srv.upgrade(req, { data: undefined }) ? undefined : new Response(`origin saw ${new URL(req.url).pathname}`)),
    websocket: { message: (ws, m) => void ws.send(`origin echoed ${m}`) },
  });

  beforeAll(async () => {
    const args = [...AS_PROXY, "--relay-heartbeat", "500ms"];
    a = await startServer({ args });
    await a.waitFor(/\/pair#token=/);
    b = await startServer({ args, databaseUrl: a.databaseUrl });
    owner = await ownerSession(a);
    const org = (await json<{ activeOrganizationId: string }>(api(a, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    const key = (await json<{ key: string }>(api(a, owner)("POST", "/api/api-keys", { name: "box", organizationId: org }))).key;
    issued.push(key);
    const home = tempDir("warren-host-");
    agent = spawnWarren(["host", "start", "--server", a.url, "--name", "shared", "--expose", String(origin.port)], { env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: key } });
    await agent.waitFor(/connected: shared/);
    hostId = (await json<{ hosts: Host[] }>(api(a, owner)("GET", "/api/hosts"))).hosts.find((h) => h.name === "shared")!.id;
  });
  afterAll(async () => {
    agent.proc.kill("SIGTERM");
    await agent.exited;
    await b.stop();
    await a.stop();
    origin.stop(true);
  });

  test("replica B lists the host connected to A as online", async () => {
    const hosts = await json<{ hosts: Host[] }>(api(b, owner)("GET", "/api/hosts"));
    expect(hosts.hosts.find((h) => h.id === hostId)).toMatchObject({ name: "shared", online: true });
  });

  test("through B: create, list, attach with input and exit code, kill", async () => {
    const r = await api(b, owner)("POST", `/api/hosts/${hostId}/terminals`, { cmd: ["sh", "-c", "echo via-b; read x; echo b-got-$x; exit 6"] });
    expect(r.status).toBe(201);
    const t = (await r.json()) as { id: string; hostId: string };
    expect(t.hostId).toBe(hostId);
    const list = await json<{ terminals: { id: string }[] }>(api(b, owner)("GET", `/api/hosts/shared/terminals`));
    expect(list.terminals.map((x) => x.id)).toContain(t.id);
    const at = attach(`${b.url.replace(/^http/, "ws")}/api/hosts/${hostId}/terminals/${t.id}/attach`, { headers: { authorization: `Bearer ${owner}` } });
    await at.waitFor("via-b");
    at.send("yo\n");
    const res = await at.result;
    expect(new TextDecoder().decode(res.output)).toContain("b-got-yo");
    expect(res.exit).toEqual({ type: "exit", code: 6, signal: null });
    expect(res.closeCode).toBe(1000);
    const sleeper = await json<{ id: string }>(api(b, owner)("POST", `/api/hosts/${hostId}/terminals`, { cmd: ["sleep", "60"] }));
    expect((await api(b, owner)("DELETE", `/api/hosts/${hostId}/terminals/${sleeper.id}`)).status).toBe(202);
    expect((await api(b, owner)("DELETE", `/api/hosts/${hostId}/terminals/term_nope`)).status).toBe(404);
  });

  test("through B: a browser-style attach with a one-use ticket (B spends it, A gets a fresh one for the same session)", async () => {
    const t = await json<{ id: string }>(api(b, owner)("POST", `/api/hosts/${hostId}/terminals`, { cmd: ["sh", "-c", "echo ticketed; exit 0"] }));
    const { ticket } = await json<{ ticket: string }>(api(b, owner)("POST", "/api/ws-ticket"));
    const url = `${b.url.replace(/^http/, "ws")}/api/hosts/${hostId}/terminals/${t.id}/attach?ticket=${ticket}`;
    const at = attach(url);
    const res = await at.result;
    expect(new TextDecoder().decode(res.output)).toContain("ticketed");
    expect(res.closeCode).toBe(1000);
    // The ticket was one use: the same URL again is refused.
    const again = await attach(url).result.catch((e: Error) => e);
    expect(again instanceof Error || (again as { closeCode: number }).closeCode !== 1000).toBe(true);
  });

  test("through B: an exposed port", async () => {
    const r = await fetch(`${b.url}/api/hosts/${hostId}/ports/${origin.port}/x/y?z=1`, { headers: { authorization: `Bearer ${owner}` } });
    expect(r.status).toBe(200);
    expect(await r.text()).toBe("origin saw /x/y");
    // A WebSocket to the port through B: piped to A, which takes the credential again.
    expect(await firstReply(`${b.url}/api/hosts/${hostId}/ports/${origin.port}/ws`, "via B", { authorization: `Bearer ${owner}` })).toBe("origin echoed via B");
  });

  test("another organization gets 404 on B too, and a forwarded request is never forwarded again", async () => {
    const orgB = (await json<{ id: string }>(api(a, owner)("POST", "/api/orgs", { name: "B", slug: "org-b" }))).id;
    const other = await sessionFrom(a, await pairingLink(a, owner, { invite: { email: "b@example.com", organizationId: orgB, role: "owner" } }));
    expect((await api(b, other)("GET", `/api/hosts/${hostId}/terminals`)).status).toBe(404);
    // A request that already took its hop, arriving at a replica without the host: 503, no loop.
    const looped = await api(b, owner, { "x-warren-forwarded": "1" })("GET", `/api/hosts/${hostId}/terminals`);
    expect(looped.status).toBe(503);
  });
});
