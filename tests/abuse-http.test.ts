// Hostile HTTP clients (issue #13): bodies nested until parsers fall over, on every route that
// takes a body, and thousands of malformed requests across every route. The server must answer
// each with a clean 4xx, keep /healthz fast while it does, and give the memory back.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveServeConfig, startServer as startInProcess } from "../server";
import { api, AS_PROXY, issued, json, ownerSession } from "./auth-helpers";
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
  let routes: { method: string; path: string }[] = [];
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    routes = await routeTable();
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    const me = await json<{ activeOrganizationId: string; user: { id: string } }>(api(s, owner)("GET", "/api/auth/session"));
    orgId = me.activeOrganizationId;
    const key = await json<{ id: string; key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "abuse", organizationId: orgId }));
    issued.push(key.key);
    keyId = key.id;
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
