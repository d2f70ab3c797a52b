// /relay/connect against a real server: only host JWTs get in; registration by epoch; the
// directory in GET /api/hosts; heartbeats. The "host" here is a real WebSocket running the real
// multiplexer (the agent's own link is tested end to end in relay-host.test.ts).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, AS_PROXY, issued, json, ownerSession } from "./auth-helpers";
import { cleanup, DIALECT, startServer, waitUntil, type TestServer } from "./harness";
import { decode, FRAME, json as frameJson, type Hello } from "../relay/codec";

afterAll(cleanup);

type Host = { id: string; name: string; online: boolean; lastSeen: string; local: boolean; organizationId: string };

/** Dials /relay/connect like a host; resolves with the HELLO, or the close code if refused. */
function dial(s: TestServer, token: string, o: { answerPings?: boolean } = {}) {
  const ws = new WebSocket(`${s.url.replace(/^http/, "ws")}/relay/connect`, {
    headers: { authorization: `Bearer ${token}`, "x-warren-host-version": "test", "x-warren-host-platform": "linux-x64" },
  } as unknown as string[]);
  ws.binaryType = "arraybuffer";
  const frames: number[] = [];
  const closed = new Promise<number>((r) => (ws.onclose = (e) => r(e.code)));
  const hello = new Promise<Hello & { orgId: string }>((resolve, reject) => {
    ws.onmessage = (e) => {
      const f = decode(new Uint8Array(e.data as ArrayBuffer))!;
      frames.push(f.type);
      if (f.type === FRAME.HELLO) resolve(frameJson(f.payload)!);
      if (f.type === FRAME.PING && o.answerPings !== false) ws.send(new Uint8Array([FRAME.PONG, 0, 0, 0, 0, ...f.payload]));
    };
    closed.then((code) => reject(new Error(`closed ${code}`)));
  });
  hello.catch(() => {});
  return { ws, hello, closed, frames };
}

describe(`relay connect (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let orgA = "";
  let keyA = "";
  beforeAll(async () => {
    s = await startServer({ args: [...AS_PROXY, "--relay-heartbeat", "300ms"] });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    orgA = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    keyA = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "host", organizationId: orgA }))).key;
    issued.push(keyA);
  });
  afterAll(() => s.stop());

  const hostToken = async (name: string, key = keyA) => {
    const r = await api(s, null, { "x-api-key": key })("GET", `/api/auth/token?host=${encodeURIComponent(name)}`);
    expect(r.status).toBe(200);
    const { token } = (await r.json()) as { token: string };
    issued.push(token);
    return token;
  };
  const hosts = async () => (await json<{ hosts: Host[] }>(api(s, owner)("GET", "/api/hosts"))).hosts;
  const upgrade = (headers: Record<string, string>) =>
    fetch(`${s.url}/relay/connect`, { headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", ...headers } });

  test("without a host JWT the dial is refused with words: none 401, a session or plain JWT 403", async () => {
    const none = await upgrade({});
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { message: string } }).error.message).toContain("host JWT");
    expect((await upgrade({ authorization: `Bearer ${owner}` })).status).toBe(403);
    expect((await upgrade({ "x-api-key": keyA })).status).toBe(403);
    const plain = (await json<{ token: string }>(api(s, owner)("GET", "/api/auth/token"))).token;
    expect((await upgrade({ authorization: `Bearer ${plain}` })).status).toBe(403);
    expect((await upgrade({ authorization: "Bearer nonsense.jwt.here" })).status).toBe(401);
  });

  test("a bad host name is a 400 at the token endpoint", async () => {
    for (const bad of ["local", "-x", "a b", "x".repeat(64)]) {
      const r = await api(s, null, { "x-api-key": keyA })("GET", `/api/auth/token?host=${encodeURIComponent(bad)}`);
      expect(r.status).toBe(400);
    }
  });

  test("a host registers in its key's org and is listed online; when it leaves, offline with lastSeen", async () => {
    const h = dial(s, await hostToken("box-1"));
    const hello = await h.hello;
    expect(hello.hostId).toMatch(/^host_/);
    expect(hello.orgId).toBe(orgA);
    expect(hello.epoch).toBe(1);
    expect((await hosts()).find((x) => x.name === "box-1")).toMatchObject({ id: hello.hostId, online: true, local: false, organizationId: orgA });
    h.ws.close();
    await waitUntil(async () => (await hosts()).find((x) => x.name === "box-1")?.online === false, 10_000, "offline");
    const row = (await hosts()).find((x) => x.name === "box-1")!;
    expect(Date.parse(row.lastSeen)).toBeGreaterThan(0);
  });

  test("a second connection for the same host wins; the stale one cannot unregister it", async () => {
    const first = dial(s, await hostToken("box-2"));
    const h1 = await first.hello;
    const second = dial(s, await hostToken("box-2"));
    const h2 = await second.hello;
    expect(h2.hostId).toBe(h1.hostId);
    expect(h2.epoch).toBe(h1.epoch + 1);
    expect(await first.closed).toBe(4409);
    // The stale socket's close has been handled; the newer one is still the host.
    await Bun.sleep(200);
    expect((await hosts()).find((x) => x.name === "box-2")?.online).toBe(true);
    second.ws.close();
    await waitUntil(async () => (await hosts()).find((x) => x.name === "box-2")?.online === false, 10_000, "offline");
  });

  test("a host that stops answering heartbeats is dropped after three misses", async () => {
    const h = dial(s, await hostToken("box-3"), { answerPings: false });
    await h.hello;
    expect(await h.closed).toBe(4408);
    expect(h.frames.filter((t) => t === FRAME.PING).length).toBe(3);
    await waitUntil(async () => (await hosts()).find((x) => x.name === "box-3")?.online === false, 10_000, "offline");
  });

  test("a host that answers heartbeats stays", async () => {
    const h = dial(s, await hostToken("box-4"));
    await h.hello;
    await waitUntil(() => h.frames.filter((t) => t === FRAME.PING).length >= 5, 10_000, "five pings");
    expect(h.ws.readyState).toBe(WebSocket.OPEN);
    h.ws.close();
  });

  test("rule 5: revoking the key a host connected with ends its connection within seconds, not at its next refresh", async () => {
    const call = api(s, owner);
    const { key, id } = await json<{ key: string; id: string }>(call("POST", "/api/api-keys", { name: "revoked-host", organizationId: orgA }));
    issued.push(key);
    const token = await hostToken("soon-revoked", key);
    const h = dial(s, token);
    await h.hello;
    expect((await hosts()).find((x) => x.name === "soon-revoked")?.online).toBe(true);
    expect((await call("DELETE", `/api/api-keys/${id}`)).status).toBeLessThan(300);
    expect(await h.closed).toBe(4401);
    await waitUntil(async () => (await hosts()).find((x) => x.name === "soon-revoked")?.online === false, 5_000, "the host to show offline");
    // Its token no longer works anywhere: a JWT lives only as long as the key it came from.
    expect((await api(s, token)("GET", "/api/hosts")).status).toBe(401);
  });

  test("on SIGTERM every host gets GOAWAY, then the socket closes with 1001", async () => {
    const h = dial(s, await hostToken("box-5"));
    await h.hello;
    const code = h.closed;
    expect(await s.stop()).toBe(0);
    expect(await code).toBe(1001);
    expect(h.frames).toContain(FRAME.GOAWAY);
  });
});
