// Durable Streams (SPEC §3) beyond what the protocol's own suite checks: the suite itself, run
// in full with a real API key; org scoping; authentication; limits; durability across kill -9;
// the TTL sweeper; the webhook SSRF guard; and, on Postgres, two replicas sharing streams.
import { afterAll, describe, expect, test } from "bun:test";
import { resolveServeConfig } from "../server/config";
import { api, json } from "./auth-helpers";
import { DIALECT, ROOT, cleanup, query, startServer, waitUntil } from "./harness";
import { apiKey, streamServer, type StreamServer } from "./stream-helpers";

afterAll(cleanup);

const text = { "content-type": "text/plain" };

async function readAll(t: Pick<StreamServer, "s">, path: string): Promise<{ body: Buffer; next: string }> {
  const parts: Buffer[] = [];
  let offset = "-1";
  for (let i = 0; i < 10_000; i++) {
    const r = await t.s(`${path}?offset=${offset}`);
    expect(r.status).toBe(200);
    parts.push(Buffer.from(await r.arrayBuffer()));
    offset = r.headers.get("stream-next-offset")!;
    if (r.headers.get("stream-up-to-date") === "true") break;
  }
  return { body: Buffer.concat(parts), next: offset };
}

test("the Durable Streams conformance suite passes in full (338 tests, subscriptions included) with a real API key", async () => {
  const run = Bun.spawn([process.execPath, "scripts/conformance.ts"], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: process.env });
  const [out, err, code] = await Promise.all([new Response(run.stdout).text(), new Response(run.stderr).text(), run.exited]);
  const summary = out.trim().split("\n").at(-1) ?? "";
  if (code !== 0) console.error(out.slice(-6000), err.slice(-3000));
  expect(summary).toBe("338 passed, 0 failed, 0 skipped");
  expect(code).toBe(0);
}, 600_000);

describe("one server", () => {
  let t: StreamServer;
  test("setup", async () => {
    t = await streamServer();
  });

  test("every request but the CORS preflight needs a credential; the preflight says what a browser may send", async () => {
    const anon = await fetch(`${t.server.url}/v1/stream/x`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get("x-content-type-options")).toBe("nosniff");
    expect(anon.headers.get("access-control-allow-origin")).toBe("*");
    expect((await json<{ error: { code: string } }>(anon)).error.code).toBe("unauthorized");
    const bad = await fetch(`${t.server.url}/v1/stream/x`, { method: "PUT", headers: { authorization: "Bearer sk_live_notarealkeyatall00000000000" } });
    expect(bad.status).toBe(401);
    const pre = await fetch(`${t.server.url}/v1/stream/x`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST" } });
    expect(pre.status).toBe(204);
    const allowed = pre.headers.get("access-control-allow-headers")!;
    for (const h of ["authorization", "x-api-key", "content-type", "if-none-match", "producer-id", "stream-closed"]) expect(allowed).toContain(h);
    // Whatever a client adds (a tenant header, tracing) is allowed: no credential ever rides a cookie here.
    const asked = await fetch(`${t.server.url}/v1/stream/x`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, x-tenant-id, traceparent, baggage" } });
    expect(asked.headers.get("access-control-allow-headers")).toBe("authorization, x-tenant-id, traceparent, baggage");
    expect(asked.headers.get("access-control-allow-credentials")).toBeNull();
    expect(asked.headers.get("access-control-allow-origin")).toBe("*");
    // The anonymous attempts created nothing.
    expect((await t.s("x")).status).toBe(404);
  });

  test("x-api-key works like Authorization: Bearer", async () => {
    const r = await fetch(`${t.server.url}/v1/stream/by-header`, { method: "PUT", headers: { "x-api-key": t.key, ...text }, body: "hi" });
    expect(r.status).toBe(201);
    expect(r.headers.get("location")).toBe(`${t.server.url}/v1/stream/by-header`);
    expect(await (await t.s("by-header")).text()).toBe("hi");
  });

  test("streams belong to an org: the same path in two orgs is two streams, and no credential reaches the other's", async () => {
    const owner = api(t.server, t.session);
    const org = await json<{ id: string }>(owner("POST", "/api/orgs", { slug: "second", name: "Second" }));
    const keyB = await apiKey(t.server, t.session, "b", org.id);
    const asB = (path: string, init: RequestInit = {}) =>
      fetch(`${t.server.url}/v1/stream/${path}`, { ...init, headers: { authorization: `Bearer ${keyB}`, ...(init.headers as Record<string, string>) } });

    expect((await t.s("shared/name", { method: "PUT", headers: text, body: "org A's" })).status).toBe(201);
    expect((await asB("shared/name")).status).toBe(404);
    expect((await asB("shared/name", { method: "HEAD" })).status).toBe(404);
    expect((await asB("shared/name", { method: "POST", headers: text, body: "intrusion" })).status).toBe(404);
    expect((await asB("shared/name", { method: "DELETE" })).status).toBe(404);
    expect((await asB("shared/name?offset=-1&live=long-poll")).status).toBe(404);
    // B's own stream at the same path is a different stream.
    expect((await asB("shared/name", { method: "PUT", headers: text, body: "org B's" })).status).toBe(201);
    expect(await (await asB("shared/name")).text()).toBe("org B's");
    expect(await (await t.s("shared/name")).text()).toBe("org A's");
    // A key is bound for life: naming the other org is refused, not obeyed.
    const cross = await t.s("shared/name", { headers: { "x-warren-org": org.id } });
    expect(cross.status).toBe(403);
    expect((await json<{ error: { code: string } }>(cross)).error.code).toBe("outside_scope");
    // A session picks its org per request with X-Warren-Org, among the orgs it belongs to.
    const asSession = (orgId: string) => fetch(`${t.server.url}/v1/stream/shared/name`, { headers: { authorization: `Bearer ${t.session}`, "x-warren-org": orgId } });
    expect(await (await asSession(org.id)).text()).toBe("org B's");
    expect((await asSession("org_nobody")).status).toBe(403);
    // Ids come straight from the header: names every object has are no one's organization.
    for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      expect((await asSession(name)).status).toBe(403);
      expect((await fetch(`${t.server.url}/v1/stream/proto-${name}`, { method: "PUT", headers: { ...text, authorization: `Bearer ${t.session}`, "x-warren-org": name } })).status).toBe(403);
    }
  });

  test("rules 1, 3, 9: a host JWT reads its key's org's streams; a revoked key is 401 on streams at once", async () => {
    await t.s("jwt-visible", { method: "PUT", headers: text, body: "for the key's org" });
    const { token } = await json<{ token: string }>(fetch(`${t.server.url}/api/auth/token`, { headers: { "x-api-key": t.key } }));
    const viaJwt = await fetch(`${t.server.url}/v1/stream/jwt-visible`, { headers: { authorization: `Bearer ${token}` } });
    expect(viaJwt.status).toBe(200);
    expect(await viaJwt.text()).toBe("for the key's org");

    const owner = api(t.server, t.session);
    const doomed = await apiKey(t.server, t.session, "doomed");
    const asDoomed = () => fetch(`${t.server.url}/v1/stream/jwt-visible`, { headers: { authorization: `Bearer ${doomed}` } });
    expect((await asDoomed()).status).toBe(200);
    const { keys } = await json<{ keys: { id: string; name: string }[] }>(owner("GET", "/api/api-keys"));
    const id = keys.find((k) => k.name === "doomed")!.id;
    expect((await owner("DELETE", `/api/api-keys/${id}`)).status).toBeLessThan(300);
    expect((await asDoomed()).status).toBe(401);
  });

  test("bad input gets a 4xx that says what is wrong", async () => {
    await t.s("bad", { method: "PUT", headers: text });
    const cases: [RequestInit & { path?: string }, number, string][] = [
      [{ method: "POST", headers: text }, 400, "empty_append"],
      [{ method: "POST", body: "x" }, 400, "content_type_required"],
      [{ method: "POST", headers: { "content-type": "application/json" }, body: "{}" }, 409, "content_type_mismatch"],
      [{ method: "POST", headers: { ...text, "producer-id": "p" }, body: "x" }, 400, "invalid_header"],
      [{ method: "PUT", headers: { ...text, "stream-ttl": "1.5" } }, 400, "invalid_header"],
      [{ path: "bad?offset=zzz" }, 400, "invalid_offset"],
      [{ path: "bad?live=sse" }, 400, "offset_required"],
    ];
    for (const [init, status, code] of cases) {
      const r = await t.s(init.path ?? "bad", init);
      expect(r.status).toBe(status);
      const body = await json<{ error: { code: string; message: string } }>(r);
      expect(body.error.code).toBe(code);
      expect(body.error.message.length).toBeGreaterThan(5);
    }
  });

  test("SSE carries text exactly, lines that begin with spaces included, as a standard parser reads it", async () => {
    const payload = " one space\n  two spaces\nnone\n";
    await t.s("spaces", { method: "PUT", headers: text, body: payload });
    await t.s("spaces", { method: "POST", headers: text, body: "closed after this" });
    await t.s("spaces", { method: "POST", headers: { "stream-closed": "true" } });
    const raw = await (await t.s("spaces?offset=-1&live=sse")).text();
    // The EventSource rules: one space after "data:" is dropped; data lines join with \n.
    const data = raw
      .split("\n\n")
      .filter((block) => block.startsWith("event: data"))
      .map((block) =>
        block
          .split("\n")
          .filter((l) => l.startsWith("data:"))
          .map((l) => (l.startsWith("data: ") ? l.slice(6) : l.slice(5)))
          .join("\n"),
      );
    expect(data.join("")).toBe(payload + "closed after this");
    expect(raw).toContain('"streamClosed":true');
  });

  test("an append over the limit is refused with 413, declared or streamed, and nothing is stored", async () => {
    await t.s("big", { method: "PUT", headers: text });
    const over = new Uint8Array(16 * 1024 * 1024 + 1);
    const r = await t.s("big", { method: "POST", headers: text, body: over });
    expect(r.status).toBe(413);
    const chunked = new ReadableStream({
      start(c) {
        for (let i = 0; i < 17; i++) c.enqueue(new Uint8Array(1024 * 1024));
        c.close();
      },
    });
    const r2 = await t.s("big", { method: "POST", headers: text, body: chunked });
    expect(r2.status).toBe(413);
    const head = await t.s("big", { method: "HEAD" });
    expect(head.headers.get("stream-next-offset")).toBe("0000000000000000_0000000000000000");
  });

  test("an expired stream is removed by the sweeper, without anyone reading it", async () => {
    expect((await t.s("short-lived", { method: "PUT", headers: { ...text, "stream-ttl": "1" }, body: "bye" })).status).toBe(201);
    const target = { dataDir: t.server.dataDir, databaseUrl: t.server.databaseUrl };
    const count = async () => Number((await query(target, "SELECT count(*) AS n FROM streams WHERE path = 'short-lived'"))[0]!.n);
    expect(await count()).toBe(1);
    await waitUntil(async () => (await count()) === 0, 15_000, "the sweeper to delete the expired stream");
    expect((await t.s("short-lived")).status).toBe(404);
  });

  test("subscription webhooks only go to allowed hosts (SSRF guard)", async () => {
    for (const url of ["http://169.254.169.254/latest/meta-data", "http://10.0.0.1/hook", "https://example.com/hook", "http://user:pw@127.0.0.1/h", "file:///etc/passwd"]) {
      const r = await t.s("__ds/subscriptions/ssrf", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "webhook", pattern: "x/*", webhook: { url } }) });
      expect(r.status).toBe(400);
      expect((await json<{ error: { code: string } }>(r)).error.code).toBe("WEBHOOK_URL_REJECTED");
    }
    const ok = await t.s("__ds/subscriptions/ssrf", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "webhook", pattern: "x/*", webhook: { url: "http://127.0.0.1:9/hook" } }) });
    expect(ok.status).toBe(201);
    // Subscriptions are per org, and need a Warren credential like any other route.
    expect((await fetch(`${t.server.url}/v1/stream/__ds/subscriptions/ssrf`)).status).toBe(401);
  });

  test("teardown", async () => {
    expect(await t.server.stop()).toBe(0);
  });
});

test("webhook hosts: --webhook-allow replaces the loopback default, and a network-facing server allows none by default", async () => {
  expect(resolveServeConfig({}).webhookAllow).toEqual(["127.0.0.1", "localhost", "::1"]);
  expect(resolveServeConfig({ host: "0.0.0.0", insecure: true }).webhookAllow).toEqual([]);
  const t = await streamServer({ args: ["--webhook-allow", "hooks.example.com"] });
  const put = (url: string) =>
    t.s("__ds/subscriptions/s", { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "webhook", pattern: "a/*", webhook: { url } }) });
  expect((await put("http://127.0.0.1:9/hook")).status).toBe(400);
  expect((await put("https://hooks.example.com/in")).status).toBe(201);
  expect(await t.server.stop()).toBe(0);
});

test("every acknowledged append survives kill -9 of the server, whole and in order", async () => {
  const t = await streamServer();
  expect((await t.s("crash", { method: "PUT", headers: text })).status).toBe(201);
  const acked: { end: number; payload: string }[] = [];
  let stop = false;
  const worker = async (w: number) => {
    for (let i = 0; !stop; i++) {
      const payload = `w${w}-${String(i).padStart(6, "0")};`;
      try {
        const r = await t.s("crash", { method: "POST", headers: text, body: payload });
        if (r.status === 204) acked.push({ end: Number(r.headers.get("stream-next-offset")!.split("_")[1]), payload });
      } catch {
        return; // the server is gone
      }
    }
  };
  const workers = Array.from({ length: 8 }, (_, w) => worker(w));
  await waitUntil(() => acked.length >= 400, 30_000, "400 acknowledged appends");
  t.server.proc.kill("SIGKILL");
  await t.server.exited;
  stop = true;
  await Promise.all(workers);

  const again = await startServer({ dataDir: t.server.dataDir, databaseUrl: t.server.databaseUrl ?? null, args: ["--long-poll-timeout", "500ms"] });
  const { body } = await readAll({ s: (p, init = {}) => fetch(`${again.url}/v1/stream/${p}`, { ...init, headers: { authorization: `Bearer ${t.key}` } }) }, "crash");
  const content = body.toString();
  for (const a of acked) expect(content.slice(a.end - a.payload.length, a.end)).toBe(a.payload);
  // Nothing torn: the stream is whole appends only, each writer's in the order it sent them.
  const appends = content.split(";").filter(Boolean);
  expect(appends.every((s) => /^w\d-\d{6}$/.test(s))).toBe(true);
  for (let w = 0; w < 8; w++) {
    const mine = appends.filter((s) => s.startsWith(`w${w}-`));
    expect(mine).toEqual([...mine].sort());
  }
  expect(acked.length).toBeGreaterThanOrEqual(400);
  expect(await again.stop()).toBe(0);
}, 120_000);

describe.skipIf(DIALECT !== "pg")("two replicas on one Postgres", () => {
  test("a live reader on replica B gets an append made on replica A, and appends from both are totally ordered", async () => {
    const a = await streamServer();
    const b = await startServer({ databaseUrl: a.server.databaseUrl, args: ["--long-poll-timeout", "500ms"] });
    const onB = (p: string, init: RequestInit = {}) => fetch(`${b.url}/v1/stream/${p}`, { ...init, headers: { authorization: `Bearer ${a.key}`, ...(init.headers as Record<string, string>) } });
    expect((await a.s("shared", { method: "PUT", headers: text })).status).toBe(201);

    // SSE on B from the tail; the append goes to A.
    const sse = await onB("shared?offset=now&live=sse");
    expect(sse.status).toBe(200);
    const reader = sse.body!.getReader();
    let seen = "";
    const got = (async () => {
      const decoder = new TextDecoder();
      while (!seen.includes("from A")) {
        const r = await reader.read();
        if (r.done) break;
        seen += decoder.decode(r.value);
      }
    })();
    await Bun.sleep(200);
    expect((await a.s("shared", { method: "POST", headers: text, body: "from A" })).status).toBe(204);
    await got;
    expect(seen).toContain("data:from A");
    await reader.cancel();

    // Long-poll on B wakes for an append on A too.
    const tail = (await onB("shared", { method: "HEAD" })).headers.get("stream-next-offset")!;
    const poll = onB(`shared?offset=${tail}&live=long-poll`);
    await Bun.sleep(100);
    await a.s("shared", { method: "POST", headers: text, body: "again" });
    const polled = await poll;
    expect([200, 204]).toContain(polled.status);
    if (polled.status === 200) expect(await polled.text()).toBe("again");

    // Concurrent appends through both replicas: one order, no gaps, every ack where it said.
    const acked: { end: number; payload: string }[] = [];
    const writer = async (via: (p: string, i: RequestInit) => Promise<Response>, name: string) => {
      for (let i = 0; i < 60; i++) {
        const payload = `${name}${String(i).padStart(3, "0")};`;
        const r = await via("ordered", { method: "POST", headers: text, body: payload });
        expect(r.status).toBe(204);
        acked.push({ end: Number(r.headers.get("stream-next-offset")!.split("_")[1]), payload });
      }
    };
    await a.s("ordered", { method: "PUT", headers: text });
    await Promise.all([writer(a.s, "a"), writer(a.s, "b"), writer(onB, "c"), writer(onB, "d")]);
    const { body } = await readAll(a, "ordered");
    acked.sort((x, y) => x.end - y.end);
    expect(body.toString()).toBe(acked.map((x) => x.payload).join(""));
    expect(new Set(acked.map((x) => x.end)).size).toBe(240);
    expect(await b.stop()).toBe(0);
    expect(await a.server.stop()).toBe(0);
  }, 120_000);
});
