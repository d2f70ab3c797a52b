// GET /api/events, the dashboard's live channel, as a program sees it: only for a credential;
// a notice names a topic and nothing else; only people who may see a change hear of it (another
// org's members and another user's sessions are not told); a revoked session's stream ends by
// itself; one user's streams are bounded; on Postgres a change on one replica reaches a
// stream held by another. (tests/dashboard.test.ts drives the page that listens.)
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AS_PROXY, api, issued, json, ownerSession, pairingLink, sessionFrom } from "./auth-helpers";
import { cleanup, DIALECT, PG_ADMIN_URL, startServer, type TestServer } from "./harness";

afterAll(cleanup);

/** An open /api/events stream: every event seen so far, and a wait for the next matching one. */
async function listen(s: TestServer, token: string) {
  const controller = new AbortController();
  const r = await fetch(`${s.url}/api/events`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toBe("text/event-stream");
  const seen: { event: string; data: string }[] = [];
  let ended = false;
  let wake = () => {};
  (async () => {
    const decoder = new TextDecoder();
    let buffer = "";
    const reader = r.body!.getReader();
    try {
      for (;;) {
        const { done, value: chunk } = await reader.read();
        if (done) break;
        buffer += decoder.decode(chunk, { stream: true });
        let at;
        while ((at = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event) seen.push({ event, data: data ?? "" });
        }
        wake();
      }
    } catch {
      // Aborted by the test.
    }
    ended = true;
    wake();
  })();
  const next = async (pred: (e: { event: string; data: string }) => boolean, ms = 10_000) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = seen.find(pred);
      if (hit) return hit;
      if (ended || Date.now() > deadline) return null;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 100);
      });
    }
  };
  return { seen, next, ended: () => ended, close: () => controller.abort() };
}

const topic = (t: string) => (e: { event: string; data: string }) => e.event === "change" && JSON.parse(e.data).topic === t;

describe(`/api/events (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let org = "";
  let other = "";
  let stranger = "";

  beforeAll(async () => {
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    org = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    other = (await json<{ id: string }>(api(s, owner)("POST", "/api/orgs", { slug: "other", name: "Other" }))).id;
    // Someone only in "other".
    stranger = await sessionFrom(s, await pairingLink(s, owner, { invite: { email: "sam@example.com", organizationId: other, role: "owner" } }));
  });
  afterAll(() => s.stop());

  test("no credential, a bad one: 401, no stream", async () => {
    expect((await fetch(`${s.url}/api/events`)).status).toBe(401);
    expect((await fetch(`${s.url}/api/events`, { headers: { authorization: "Bearer nonsense" } })).status).toBe(401);
  });

  test("a change is a topic only, told to those who may see it and to no one else", async () => {
    const mine = await listen(s, owner);
    const theirs = await listen(s, stranger);
    expect(await mine.next((e) => e.event === "ready")).not.toBeNull();
    expect(await theirs.next((e) => e.event === "ready")).not.toBeNull();
    const { key } = await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "k", organizationId: org }));
    issued.push(key);
    const keys = await mine.next(topic("keys"));
    expect(keys!.data).toBe('{"topic":"keys"}');
    // A terminal in the owner's org (the local host's).
    const t = await json<{ id: string }>(api(s, owner)("POST", "/api/hosts/local/terminals", { cmd: ["true"] }));
    expect(await mine.next(topic("terminals"))).not.toBeNull();
    // Sam is in "other" only: neither the key (the owner's own) nor the terminal (the owner's org) reach Sam.
    await mine.next(() => false, 500);
    expect(theirs.seen.filter((e) => e.event === "change")).toEqual([]);
    // A change in "other" reaches both of its members.
    await pairingLink(s, owner, { invite: { email: "zed@example.com", organizationId: other, role: "member" } }).then((link) => sessionFrom(s, link));
    expect(await theirs.next(topic("members"))).not.toBeNull();
    expect(await mine.next(topic("members"))).not.toBeNull();
    // Nothing in any notice but the topic.
    for (const e of [...mine.seen, ...theirs.seen].filter((e) => e.event === "change")) expect(Object.keys(JSON.parse(e.data))).toEqual(["topic"]);
    expect(JSON.stringify(mine.seen)).not.toContain(t.id);
    mine.close();
    theirs.close();
  });

  test("a revoked session's stream ends by itself within seconds", async () => {
    const device = await sessionFrom(s, await pairingLink(s, owner));
    const stream = await listen(s, device);
    await stream.next((e) => e.event === "ready");
    const sessions = await json<{ sessions: { id: string; current: boolean }[] }>(api(s, device)("GET", "/api/auth/sessions"));
    const id = sessions.sessions.find((x) => x.current)!.id;
    expect((await api(s, owner)("DELETE", `/api/auth/sessions/${id}`)).status).toBe(204);
    const deadline = Date.now() + 10_000;
    while (!stream.ended() && Date.now() < deadline) await Bun.sleep(100);
    expect(stream.ended()).toBe(true);
  });

  test("one user holds at most 16 streams: the 17th closes the oldest, so tabs left open cannot pile up", async () => {
    const streams = [];
    for (let i = 0; i < 17; i++) {
      const st = await listen(s, owner);
      await st.next((e) => e.event === "ready");
      streams.push(st);
    }
    const deadline = Date.now() + 5_000;
    while (!streams[0]!.ended() && Date.now() < deadline) await Bun.sleep(50);
    expect(streams.map((x) => x.ended())).toEqual([true, ...Array(16).fill(false)]);
    for (const st of streams) st.close();
  });
});

describe.if(!!PG_ADMIN_URL)(`/api/events across replicas (${DIALECT})`, () => {
  let a: TestServer;
  let b: TestServer;
  let owner = "";
  beforeAll(async () => {
    a = await startServer({ args: AS_PROXY });
    await a.waitFor(/\/pair#token=/);
    b = await startServer({ args: AS_PROXY, databaseUrl: a.databaseUrl });
    owner = await ownerSession(a);
  });
  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  test("a change made on replica A reaches a stream held by replica B", async () => {
    const onB = await listen(b, owner);
    await onB.next((e) => e.event === "ready");
    const org = (await json<{ activeOrganizationId: string }>(api(a, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    const { key } = await json<{ key: string }>(api(a, owner)("POST", "/api/api-keys", { name: "cross", organizationId: org }));
    issued.push(key);
    expect(await onB.next(topic("keys"))).not.toBeNull();
    onB.close();
  });
});
