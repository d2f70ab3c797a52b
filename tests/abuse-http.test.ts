// Hostile HTTP clients (issue #13): bodies nested until parsers fall over, on every route that
// takes a body, and thousands of malformed requests across every route. The server must answer
// each with a clean 4xx, keep /healthz fast while it does, and give the memory back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveServeConfig, startServer as startInProcess } from "../server";
import { api, AS_PROXY, expectNoCredentialIn, issued, json, ownerSession, pairingLink, sessionFrom } from "./auth-helpers";
import { nestedArrays, nestedObjects, rng, rssMb, seedFrom, settledRss, watchHealth } from "./abuse-helpers";
import { cleanup, DIALECT, startServer, type TestServer } from "./harness";

afterAll(cleanup);

/** Every route the server registers, read off a real server started in this process. */
async function routeTable(): Promise<{ method: string; path: string }[]> {
  const dir = mkdtempSync(join(tmpdir(), "warren-routes-"));
  const s = await startInProcess(resolveServeConfig({ port: "0", dataDir: dir, noBrowser: true, logFile: join(dir, "log") }));
  const routes = s.routes;
  await s.stop();
  rmSync(dir, { recursive: true, force: true });
  return routes;
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE", "ALL"]);

describe(`hostile HTTP input (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let orgId = "";
  let keyId = "";
  let apiKey = "";
  let routes: { method: string; path: string }[] = [];
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    routes = await routeTable();
    s = await startServer({ args: [...AS_PROXY, "--long-poll-timeout", "200ms"] });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    const me = await json<{ activeOrganizationId: string; user: { id: string } }>(api(s, owner)("GET", "/api/auth/session"));
    orgId = me.activeOrganizationId;
    const key = await json<{ id: string; key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "abuse", organizationId: orgId }));
    issued.push(key.key);
    keyId = key.id;
    apiKey = key.key;
    Object.assign(ids, { id: orgId, orgId, userId: me.user.id, hostId: "local", tid: "term_none", port: "3000", name: "sub" });
  });
  afterAll(() => s.stop());

  /** A concrete path for a route pattern, with real ids where the route names one. */
  const concrete = (pattern: string) =>
    pattern
      .split("/")
      .map((seg) => (seg === "*" ? "abuse/stream" : seg.startsWith(":") ? (pattern.startsWith("/api/api-keys") ? keyId : (ids[seg.slice(1)] ?? "x")) : seg))
      .join("/");

  test("a body nested 20,000 deep, or 1 MB of nesting, is a quick 400 on every route that takes a body", async () => {
    const targets = routes.filter((r) => BODY_METHODS.has(r.method) && !r.path.startsWith("/api/hosts/:hostId/ports"));
    expect(targets.length).toBeGreaterThanOrEqual(10);
    const before = rssMb(s.proc.pid);
    const health = watchHealth(s.url);
    const bodies = [nestedArrays(20_000), nestedObjects(20_000), nestedArrays(50_000), nestedArrays(500_000).slice(0, 1_000_000)];
    const failures: string[] = [];
    for (const r of targets) {
      const method = r.method === "ALL" ? "POST" : r.method;
      const path = concrete(r.path);
      for (const body of bodies) {
        for (const headers of [{ authorization: `Bearer ${owner}` }, {}] as Record<string, string>[]) {
          const res = await fetch(`${s.url}${path}`, { method, headers: { "content-type": "application/json", ...headers }, body });
          const text = await res.text();
          // The JSON routes refuse the depth; stream routes refuse the nesting or answer for the
          // stream (it need not exist); an anonymous caller may be told to sign in first.
          const fine = res.status === 400 || res.status === 401 || res.status === 404 || res.status === 409 || res.status === 413;
          if (!fine || text.length > 2000) failures.push(`${method} ${r.path} (${body.length} B, ${headers.authorization ? "owner" : "anonymous"}) → ${res.status} ${text.slice(0, 120)}`);
        }
      }
    }
    const { probes, slowPairs } = await health.stop();
    expect(failures).toEqual([]);
    expect(probes).toBeGreaterThan(0);
    expect(slowPairs).toEqual([]);
    expect(await settledRss(s.proc.pid, before, 50)).toBeLessThan(before + 50);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
  }, 120_000);

  test("10,000 malformed requests across every route: each a clean answer, never a 5xx; /healthz fast; memory back", async () => {
    const seed = seedFrom(20261202);
    const r = rng(seed);
    const httpRoutes = routes.filter((x) => x.method !== "WS");
    const port = new URL(s.url).port;
    const junk = [
      "", "x", "..", "%2e%2e", "%00", "%ff%fe", "a".repeat(4000), "\u00e9\u6f22", "org_" + "A".repeat(22), "-1", "0", "99999999999",
      "local", "host_x", "term_x", "__proto__", "constructor", "%2F%2F", "null", "*", ";", "%0d%0aset-cookie:x=1",
    ];
    const credentials = (): Record<string, string> =>
      r.pick([
        () => ({}),
        () => ({ authorization: `Bearer ${fuzzer}` }),
        () => ({ "x-api-key": apiKey }),
        () => ({ authorization: r.pick(["Bearer", "Bearer ", "Basic abc", `Bearer ${"x".repeat(r.int(6000))}`, "Bearer sk_live_" + "Q".repeat(43), "bearer eyJhbGciOiJub25lIn0.e30.", "Bearer wss_" + "%".repeat(43)]) }),
        () => ({ cookie: r.pick(["warren_session=", "warren_session=wss_" + "A".repeat(43), "a=b; warren_session=x; warren_session=y", ";;;=;", "warren_app=eyJ"]) }),
        () => ({ authorization: `Bearer ${fuzzer}`, "x-warren-org": encodeURIComponent(r.pick(junk)) }),
      ])();
    const contentType = () => r.pick(["application/json", "application/json; charset=utf-8", "text/plain", "multipart/form-data; boundary=--x", "application/x-www-form-urlencoded", "application/octet-stream", "", "application/json;;;=", "*/*"]);
    const body = (): string | Uint8Array<ArrayBuffer> | undefined =>
      r.pick([
        () => undefined,
        () => "",
        () => "{",
        () => '{"a":' + "1".repeat(r.int(2000)),
        () => nestedArrays(1 + r.int(5000)),
        () => nestedObjects(1 + r.int(2000)),
        () => JSON.stringify({ name: r.pick(junk), slug: r.pick(junk), organizationId: r.pick(junk), role: r.pick(["owner", "god", 1]), token: r.pick(junk), cols: r.pick([0, -1, 1e9, "80"]), cmd: r.pick([[], "sh", [1], null]) }),
        () => JSON.stringify(r.pick([null, 1, "s", [], true, { __proto__: { admin: true } }])),
        () => r.bytes(r.int(300_000)),
        () => "--x\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n--x--",
      ])();
    const request = () => {
      const route = r.pick(httpRoutes);
      const method = r.int(4) === 0 ? r.pick(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]) : route.method === "ALL" ? r.pick(["GET", "POST"]) : route.method;
      let path = route.path
        .split("/")
        .map((seg) => (seg === "*" ? Array.from({ length: 1 + r.int(3) }, () => encodeURIComponent(r.pick(junk)).slice(0, 300) || "x").join("/") : seg.startsWith(":") ? (r.int(3) ? encodeURIComponent(r.pick(junk)) : concrete(route.path).split("/")[route.path.split("/").indexOf(seg)]!) : seg))
        .join("/");
      if (r.int(5) === 0) path += r.pick(["/", "//", "/..", "?", "#x"]);
      const query = r.int(3) === 0 ? "?" + Array.from({ length: 1 + r.int(4) }, () => `${r.pick(["offset", "live", "ticket", "cols", "rows", "since", "mode", "host", "path", "app", "cursor", r.pick(junk)])}=${encodeURIComponent(r.pick([...junk, "-1", "now", "sse", "long-poll"]))}`).join("&") : "";
      const headers: Record<string, string> = { ...credentials(), "x-forwarded-for": `198.18.${r.int(256)}.${r.int(256)}` };
      if (r.int(3) === 0) headers.origin = r.pick([s.url, "https://evil.example", "null"]);
      if (r.int(20) === 0) headers.host = r.pick([`1--x--y.localhost:${port}`, `${r.int(70000)}--${r.pick(junk).replace(/[^a-z0-9-]/gi, "").slice(0, 70)}--default.localhost:${port}`, `a..b.localhost:${port}`, "localhost", `evil.example`]);
      const b = method === "GET" || method === "HEAD" ? undefined : body();
      if (b !== undefined) headers["content-type"] = contentType();
      return { method, url: `${s.url}${path}${query}`, headers, body: b };
    };
    // A session of its own: the fuzz may well sign it out.
    const fuzzer = await sessionFrom(s, await pairingLink(s, owner));
    const before = rssMb(s.proc.pid);
    const health = watchHealth(s.url);
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let timeouts = 0;
    let sent = 0;
    const worker = async () => {
      while (sent < 10_000) {
        sent++;
        const q = request();
        try {
          const res = await fetch(q.url, { method: q.method, headers: q.headers, body: q.body, redirect: "manual", signal: AbortSignal.timeout(5000) });
          // Live reads may stream on: a few bytes are enough to know the answer.
          const reader = res.body?.getReader();
          await reader?.read();
          await reader?.cancel().catch(() => {});
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status >= 500 && failures.length < 20) failures.push(`${q.method} ${q.url.slice(0, 200)} → ${res.status}`);
        } catch (e) {
          if ((e as Error).name === "TimeoutError") timeouts++;
          else if (failures.length < 20) failures.push(`${q.method} ${q.url.slice(0, 200)} → ${(e as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const { slowPairs } = await health.stop();
    if (failures.length || slowPairs.length) {
      const errors = s.logs().filter((l) => l.level === "error").slice(0, 5);
      console.error(`HTTP fuzz seed ${seed} (replay: WARREN_FUZZ_SEED=${seed}): statuses ${JSON.stringify([...statuses].sort())}, slow ${JSON.stringify(slowPairs)}, server errors ${JSON.stringify(errors)}`);
    }
    expect(failures).toEqual([]);
    expect(timeouts).toBeLessThan(20);
    expect([...statuses.keys()].filter((c) => c >= 500)).toEqual([]);
    expect(slowPairs).toEqual([]);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    expect(await settledRss(s.proc.pid, before, 50)).toBeLessThan(before + 50);
    expect((await api(s, owner)("GET", "/api/auth/session")).status).toBe(200);
  }, 300_000);

  test("every route, every error path, thousands of credentials good and bad: none of them reached the server's output", () =>
    expectNoCredentialIn([s], [owner, apiKey, "wss_" + "A".repeat(43), "sk_live_" + "Q".repeat(43)]));

  test("the JSON API names the depth it refused, and never echoes the body in an error", async () => {
    const marker = "SECRET-IN-BODY-" + "q".repeat(20);
    const deep = await api(s, owner)("POST", "/api/orgs", undefined);
    expect(deep.status).toBe(400);
    const r = await fetch(`${s.url}/api/auth/pair`, { method: "POST", headers: { "content-type": "application/json" }, body: nestedArrays(100) });
    expect(r.status).toBe(400);
    expect((await json<{ error: { code: string } }>(r)).error.code).toBe("too_deep");
    for (const body of [{ name: marker, slug: "Not A Slug!" }, { token: marker.repeat(100) }, [marker], { invite: { email: marker } }]) {
      for (const path of ["/api/orgs", "/api/auth/pair", "/api/auth/pairing-links", "/api/api-keys"]) {
        const res = await api(s, owner)("POST", path, body);
        const text = await res.text();
        expect(res.status).toBeLessThan(500);
        expect(text).not.toContain(marker);
      }
    }
    const form = await fetch(`${s.url}/api/orgs`, { method: "POST", headers: { authorization: `Bearer ${owner}`, "content-type": "multipart/form-data; boundary=x" }, body: "--x\r\n" });
    expect(form.status).toBe(415);
  });
});
