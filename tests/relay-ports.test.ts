// HTTP to a host's exposed ports through the relay: a real server, a real agent in the
// foreground (`warren host start --expose`), and a real origin server on the host's loopback.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, AS_PROXY, issued, json, ownerSession, pairingLink, sessionFrom } from "./auth-helpers";
import { cleanup, DIALECT, spawnWarren, startServer, tempDir, waitUntil, type Proc, type TestServer } from "./harness";

afterAll(cleanup);

function pattern(n: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(new ArrayBuffer(n));
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 11)) & 0xff;
  return b;
}

describe(`exposed ports through the relay (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let agent: Proc;
  let hostId = "";
  const seen: Record<string, string>[] = [];
  const closes: number[] = [];
  const origin = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    websocket: {
      // /flood: send 64 KiB messages as fast as the relay takes them, until closed.
      open(ws) {
        if ((ws.data as unknown as { flood?: boolean } | undefined)?.flood) {
          const chunk = new Uint8Array(64 * 1024);
          const timer = setInterval(() => {
            if (ws.readyState !== 1) return clearInterval(timer);
            while (ws.getBufferedAmount() < 1024 * 1024 && ws.send(chunk) > 0);
          }, 1);
        }
      },
      message: (ws, m) => void (typeof m === "string" ? ws.send(`echo ${m}`) : ws.send(m)),
      close: (_ws, code) => void closes.push(code),
    },
    async fetch(req, server) {
      const u = new URL(req.url);
      if (u.pathname === "/ws") return server.upgrade(req, { headers: { "sec-websocket-protocol": "chat" }, data: undefined }) ? undefined : new Response("no", { status: 400 });
      if (u.pathname === "/flood") return server.upgrade(req, { data: { flood: true } as never }) ? undefined : new Response("no", { status: 400 });
      seen.push(Object.fromEntries(req.headers as unknown as Iterable<[string, string]>));
      if (u.pathname === "/hello") return new Response(`hello ${u.search}`, { headers: { "x-origin": "yes" }, status: 201 });
      if (u.pathname === "/big") return new Response(pattern(Number(u.searchParams.get("n"))));
      if (u.pathname === "/echo") return new Response(await req.arrayBuffer());
      return new Response("nope", { status: 404 });
    },
  });
  const closedPort = (() => {
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const p = l.port;
    l.stop(true);
    return p;
  })();

  beforeAll(async () => {
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    const org = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    const key = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "box", organizationId: org }))).key;
    issued.push(key);
    const home = tempDir("warren-host-");
    agent = spawnWarren(["host", "start", "--server", s.url, "--name", "web", "--expose", String(origin.port), "--expose", String(closedPort)], {
      env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: key },
    });
    await agent.waitFor(/connected: web/);
    hostId = (await json<{ hosts: { id: string; name: string }[] }>(api(s, owner)("GET", "/api/hosts"))).hosts.find((h) => h.name === "web")!.id;
  });
  afterAll(async () => {
    agent.proc.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    await s.stop();
    origin.stop(true);
  });

  const viaRelay = (path: string, init: RequestInit = {}, token: string | null = owner) =>
    fetch(`${s.url}/api/hosts/${hostId}/ports/${origin.port}${path}`, { ...init, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.headers as Record<string, string>) } });

  test("a GET reaches the origin with its path and query; status, headers and body come back", async () => {
    const r = await viaRelay("/hello?a=1&b=two");
    expect(r.status).toBe(201);
    expect(r.headers.get("x-origin")).toBe("yes");
    expect(await r.text()).toBe("hello ?a=1&b=two");
  });

  test("the origin never sees the client's credential or cookie", async () => {
    seen.length = 0;
    await (await viaRelay("/hello", { headers: { cookie: "warren_session=secret", "x-api-key": "sk_live_nope", "x-custom": "kept" } })).text();
    const h = seen.at(-1)!;
    expect(h["x-custom"]).toBe("kept");
    expect(h.authorization).toBeUndefined();
    expect(h.cookie).toBeUndefined();
    expect(h["x-api-key"]).toBeUndefined();
  });

  test("bodies stream both ways intact: 3 MB up and back, 40 MB down", async () => {
    const up = pattern(3 * 1024 * 1024);
    const echoed = new Uint8Array(await (await viaRelay("/echo", { method: "POST", body: up, headers: { "content-type": "application/octet-stream" } })).arrayBuffer());
    expect(Buffer.from(echoed).equals(Buffer.from(up))).toBe(true);
    const n = 40 * 1024 * 1024;
    const down = new Uint8Array(await (await viaRelay(`/big?n=${n}`)).arrayBuffer());
    expect(down.length).toBe(n);
    expect(Buffer.from(down).equals(Buffer.from(pattern(n)))).toBe(true);
  });

  test("a port the host does not expose is 404; an exposed port with nothing listening is 502", async () => {
    const notExposed = await fetch(`${s.url}/api/hosts/${hostId}/ports/${origin.port! + 1}/hello`, { headers: { authorization: `Bearer ${owner}` } });
    expect(notExposed.status).toBe(404);
    expect(((await notExposed.json()) as { error: { code: string } }).error.code).toBe("port_not_exposed");
    const dead = await fetch(`${s.url}/api/hosts/${hostId}/ports/${closedPort}/`, { headers: { authorization: `Bearer ${owner}` } });
    expect(dead.status).toBe(502);
    expect(((await dead.json()) as { error: { message: string } }).error.message).toContain(`nothing answered on port ${closedPort}`);
  });

  test("a WebSocket to an exposed port: subprotocol, text and large binary both ways, close code", async () => {
    const ws = new WebSocket(`${s.url.replace(/^http/, "ws")}/api/hosts/${hostId}/ports/${origin.port}/ws`, { headers: { authorization: `Bearer ${owner}` }, protocols: ["chat"] } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    const got: (string | Uint8Array)[] = [];
    const closed = new Promise<number>((r) => (ws.onclose = (e) => r(e.code)));
    await new Promise((r, j) => ((ws.onopen = r), (ws.onerror = j)));
    expect(ws.protocol).toBe("chat");
    ws.onmessage = (e) => got.push(typeof e.data === "string" ? e.data : new Uint8Array(e.data as ArrayBuffer));
    const big = pattern(300_000);
    ws.send("hi");
    ws.send(big);
    await waitUntil(() => got.length === 2, 10_000, "two echoes");
    expect(got[0]).toBe("echo hi");
    expect(Buffer.from(got[1] as Uint8Array).equals(Buffer.from(big))).toBe(true);
    ws.close(4321, "done");
    expect(await closed).toBe(4321);
    await waitUntil(() => closes.includes(4321), 10_000, "the origin to see the close");
  });

  test("a WebSocket client that stops reading costs bounded memory: the host closes the upstream (4013)", async () => {
    // A raw client that completes the upgrade and then never reads another byte.
    const u = new URL(s.url);
    const upgrade = [
      `GET /api/hosts/${hostId}/ports/${origin.port}/flood HTTP/1.1`,
      `Host: ${u.host}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      `Authorization: Bearer ${owner}`,
      "",
      "",
    ].join("\r\n");
    const stalled = await Bun.connect({
      hostname: u.hostname,
      port: Number(u.port),
      socket: {
        open(sock) {
          sock.write(upgrade);
          sock.pause();
        },
        data() {},
      },
    });
    try {
      await waitUntil(() => closes.includes(4013), 30_000, "the host to close the flooding upstream");
      expect(closes).toContain(4013);
    } finally {
      stalled.end();
    }
  }, 40_000);

  test("no credential is 401; another organization gets 404; the local host exposes nothing", async () => {
    expect((await viaRelay("/hello", {}, null)).status).toBe(401);
    const orgB = (await json<{ id: string }>(api(s, owner)("POST", "/api/orgs", { name: "B", slug: "org-b" }))).id;
    const b = await sessionFrom(s, await pairingLink(s, owner, { invite: { email: "b@example.com", organizationId: orgB, role: "owner" } }));
    expect((await viaRelay("/hello", {}, b)).status).toBe(404);
    const local = await fetch(`${s.url}/api/hosts/local/ports/${origin.port}/hello`, { headers: { authorization: `Bearer ${owner}` } });
    expect(local.status).toBe(404);
  });
});
