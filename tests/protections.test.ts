// SPEC §2.4 rules 5, 7, 8, 12 and the no-credential-in-logs promise; graceful drain of in-flight
// requests on SIGTERM. On Postgres: two server processes sharing one database.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { api, AS_PROXY, expectNoCredentialIn, issued, ownerSession, pair, pairingLink, printedPairingToken, sessionFrom } from "./auth-helpers";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, DIALECT, freshDatabaseUrl, PG_ADMIN_URL, runWarren, startServer, tempDir, waitUntil, type TestServer } from "./harness";

afterAll(cleanup);

const servers: TestServer[] = [];
// Each test's servers stop when it ends (Postgres connections are finite); their output stays
// for the log scan at the end.
afterEach(async () => {
  for (const s of servers) if (s.proc.exitCode === null) await s.stop();
});
async function server(opts: Parameters<typeof startServer>[0] = {}) {
  const s = await startServer(opts);
  servers.push(s);
  return s;
}

describe(`rate limiting (${DIALECT})`, () => {
  test("rules 7 and 12: failures from one address get 429 + Retry-After; a valid credential still works", async () => {
    const s = await server();
    await s.waitFor(/\/pair#token=/);
    const owner = await ownerSession(s);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 25; i++) {
      const r = await fetch(`${s.url}/api/orgs`, { headers: { authorization: `Bearer wss_${"Q".repeat(43)}` } });
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get("retry-after");
    }
    expect(statuses.slice(0, 20).every((c) => c === 401)).toBe(true);
    expect(statuses.slice(20).every((c) => c === 429)).toBe(true);
    expect(Number(retryAfter)).toBeGreaterThan(0);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    // Same address, valid session: served, however many requests it makes.
    for (let i = 0; i < 50; i++) expect((await fetch(`${s.url}/api/orgs`, { headers: { authorization: `Bearer ${owner}` } })).status).toBe(200);
    // Bad pairing tokens count as failures too.
    expect((await fetch(`${s.url}/api/auth/pair`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: "x".repeat(32), client: "cli" }) })).status).toBe(429);
  });

  test("rule 8: X-Forwarded-For is ignored unless the peer is a --trusted-proxy", async () => {
    const s = await server();
    for (let i = 0; i < 20; i++) {
      await fetch(`${s.url}/api/orgs`, { headers: { authorization: `Bearer wss_${"Q".repeat(43)}`, "x-forwarded-for": `203.0.113.${i}` } });
    }
    const r = await fetch(`${s.url}/api/orgs`, { headers: { authorization: `Bearer wss_${"Q".repeat(43)}`, "x-forwarded-for": "203.0.113.200" } });
    expect(r.status).toBe(429);

    const proxied = await server({ args: AS_PROXY });
    for (let i = 0; i < 20; i++) {
      await fetch(`${proxied.url}/api/orgs`, { headers: { authorization: `Bearer wss_${"Q".repeat(43)}`, "x-forwarded-for": "203.0.113.7" } });
    }
    const blocked = await fetch(`${proxied.url}/api/orgs`, { headers: { authorization: `Bearer wss_${"Q".repeat(43)}`, "x-forwarded-for": "203.0.113.7" } });
    expect(blocked.status).toBe(429);
    const other = await fetch(`${proxied.url}/api/orgs`, { headers: { authorization: `Bearer wss_${"Q".repeat(43)}`, "x-forwarded-for": "203.0.113.8" } });
    expect(other.status).toBe(401);
  });
});

describe(`browser sessions: cookies and Origin (${DIALECT})`, () => {
  test("rule 8: the cookie is HttpOnly, SameSite=Lax, Path=/, and the body carries no token", async () => {
    const s = await server({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    const r = await pair(s, printedPairingToken(s), "browser");
    expect(r.status).toBe(200);
    const cookie = r.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^warren_session=wss_[A-Za-z0-9_-]{43};/);
    issued.push(cookie.split(";")[0]!.split("=")[1]!);
    for (const attr of ["HttpOnly", "SameSite=Lax", "Path=/"]) expect(cookie).toContain(attr);
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)![1]);
    expect(maxAge).toBeGreaterThan(29 * 86_400);
    expect(maxAge).toBeLessThanOrEqual(30 * 86_400);
    expect(cookie).not.toContain("Secure");
    const body = await r.text();
    expect(body).not.toContain("wss_");
    expect(JSON.parse(body)).toMatchObject({ authenticated: true });
  });

  test("rule 8: a browser pairing from a foreign Origin (login CSRF) is refused", async () => {
    const s = await server({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    const token = printedPairingToken(s);
    for (const origin of ["https://evil.example", "null"]) {
      const r = await fetch(`${s.url}/api/auth/pair`, { method: "POST", headers: { "content-type": "application/json", origin }, body: JSON.stringify({ token, client: "browser" }) });
      expect(r.status).toBe(403);
    }
    expect((await pair(s, token, "browser")).status).toBe(200); // still unused: the refusals consumed nothing
  });

  test("rule 8: cookie-authenticated changes need our Origin; reads and Bearer calls do not", async () => {
    const s = await server({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    const r = await pair(s, printedPairingToken(s), "browser");
    const cookie = r.headers.get("set-cookie")!.split(";")[0]!;
    const post = (origin?: string) =>
      fetch(`${s.url}/api/orgs`, {
        method: "POST",
        headers: { cookie, "content-type": "application/json", ...(origin ? { origin } : {}) },
        body: JSON.stringify({ name: "X", slug: `x-${Math.random().toString(36).slice(2, 8)}` }),
      });
    expect((await post()).status).toBe(403);
    const foreign = await post("https://evil.example");
    expect(foreign.status).toBe(403);
    expect(await foreign.json()).toMatchObject({ error: { code: "origin_mismatch" } });
    expect((await post(s.url)).status).toBe(201);
    expect((await fetch(`${s.url}/api/orgs`, { headers: { cookie } })).status).toBe(200);
    const bearer = (await ownerBearer(s, cookie))!;
    expect((await api(s, bearer)("POST", "/api/orgs", { name: "Y", slug: "y-bearer" })).status).toBe(201);
  });

  // Over https the cookie is __Host- and Secure whatever the bind address: on the network (the
  // remote policy), or on loopback behind a TLS proxy; and only that name signs anyone in.
  for (const [where, bind] of [["under the remote policy", ["--host", "0.0.0.0"]], ["on loopback behind a TLS proxy", []]] as const) {
    test(`rule 8: ${where}, with an https public URL, the cookie is __Host- and Secure`, async () => {
      const s = await server({ args: [...AS_PROXY, ...bind, "--public-url", "https://warren.example.com"] });
      await s.waitFor(/\/pair#token=/);
      const token = printedPairingToken(s);
      expect(s.stdout()).toContain(`https://warren.example.com/pair#token=${token}`);
      const base = `http://127.0.0.1:${new URL(s.url).port}`;
      const r = await fetch(`${base}/api/auth/pair`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: "https://warren.example.com" },
        body: JSON.stringify({ token, client: "browser" }),
      });
      expect(r.status).toBe(200);
      const cookie = r.headers.get("set-cookie")!;
      expect(cookie).toStartWith("__Host-warren_session=wss_");
      expect(cookie).toContain("; Secure");
      expect(cookie).toContain("; HttpOnly");
      const value = cookie.split(";")[0]!.split("=")[1]!;
      issued.push(value);
      const who = (name: string) => fetch(`${base}/api/auth/session`, { headers: { cookie: `${name}=${value}` } }).then((x) => x.json() as Promise<{ authenticated: boolean }>);
      expect(await who("__Host-warren_session")).toMatchObject({ authenticated: true });
      // The unprefixed name is someone else's cookie (a subdomain may set it): it signs no one in.
      expect(await who("warren_session")).toMatchObject({ authenticated: false });
    });
  }
});

/** A Bearer session for the cookie's user: pairing links can be minted by cookie with our Origin. */
async function ownerBearer(s: TestServer, cookie: string): Promise<string | null> {
  const r = await fetch(`${s.url}/api/auth/pairing-links`, { method: "POST", headers: { cookie, origin: s.url, "content-type": "application/json" }, body: "{}" });
  if (r.status !== 200) return null;
  const { token } = (await r.json()) as { token: string };
  issued.push(token);
  return sessionFrom(s, token);
}

describe.if(!!PG_ADMIN_URL)("two replicas on one Postgres", () => {
  /** Two servers of one installation (one database, one secret), the owner signed in on A. */
  async function replicas() {
    const databaseUrl = await freshDatabaseUrl();
    const a = await server({ databaseUrl: databaseUrl ?? null, args: AS_PROXY });
    const b = await server({ databaseUrl: databaseUrl ?? null, dataDir: tempDir(), args: AS_PROXY });
    await a.waitFor(/\/pair#token=/);
    return { a, b, owner: await ownerSession(a) };
  }

  test("rule 4: fifty concurrent redemptions split across two processes make one session", async () => {
    const { a, b, owner } = await replicas();
    const link = await pairingLink(a, owner);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => pair(i % 2 ? a : b, link)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(49);
  });

  test("rule 5: a session revoked on replica A is refused on replica B within 5 s", async () => {
    const { a, b, owner } = await replicas();
    const t = await sessionFrom(a, await pairingLink(a, owner));
    expect((await api(b, t)("GET", "/api/orgs")).status).toBe(200); // cached on B now
    expect((await api(a, t)("POST", "/api/auth/sign-out")).status).toBe(204);
    expect((await api(a, t)("GET", "/api/orgs")).status).toBe(401);
    const revokedAt = Date.now();
    await waitUntil(async () => (await api(b, t)("GET", "/api/orgs")).status === 401, 5_000, "replica B to refuse the revoked session");
    expect(Date.now() - revokedAt).toBeLessThanOrEqual(5_000);
  });

  test("warren keys rotate: every replica's JWKS publishes the new key within seconds, before any replica signs with it", async () => {
    const { a, b, owner } = await replicas();
    const out = await runWarren(["keys", "rotate", "--data-dir", a.dataDir, "--database-url", a.databaseUrl!]);
    expect(out.code).toBe(0);
    const newKid = /new signing key (\S+);/.exec(out.stdout)![1]!;
    const rotatedAt = Date.now();
    for (const r of [a, b]) {
      await waitUntil(async () => ((await (await fetch(`${r.url}/api/auth/jwks`)).json()) as { keys: { kid: string }[] }).keys.some((k) => k.kid === newKid), 6_000, "the JWKS to publish the new key");
    }
    expect(Date.now() - rotatedAt).toBeLessThan(6_000);
    // Default cache lifetime 60 s: for a minute more, both still sign with the old key.
    for (const r of [a, b]) {
      const { token } = (await (await api(r, owner)("GET", "/api/auth/token")).json()) as { token: string };
      issued.push(token);
      expect(JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString()).kid).not.toBe(newKid);
    }
  });

  test("a replica whose secret is not the installation's refuses to start, and says which file to copy", async () => {
    const databaseUrl = await freshDatabaseUrl();
    const a = await server({ databaseUrl: databaseUrl ?? null, args: AS_PROXY });
    await a.waitFor(/\/pair#token=/);
    const dataDir = tempDir();
    writeFileSync(join(dataDir, "secret"), randomBytes(32).toString("base64url") + "\n", { mode: 0o600 });
    const r = await runWarren(["serve", "--port", "0", "--no-browser", "--data-dir", dataDir, "--database-url", databaseUrl!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("same secret file");
  });

  test("replicas without --public-url share one issuer: a JWT from A works on B, and dies on both with its session", async () => {
    const { a, b, owner } = await replicas();
    const t = await sessionFrom(a, await pairingLink(a, owner));
    const jwtA = ((await (await api(a, t)("GET", "/api/auth/token")).json()) as { token: string }).token;
    const jwtB = ((await (await api(b, t)("GET", "/api/auth/token")).json()) as { token: string }).token;
    issued.push(jwtA, jwtB);
    for (const [server_, jwt] of [[b, jwtA], [a, jwtB], [a, jwtA], [b, jwtB]] as const) expect((await api(server_, jwt)("GET", "/api/orgs")).status).toBe(200);
    expect((await api(a, t)("POST", "/api/auth/sign-out")).status).toBe(204);
    expect((await api(a, jwtA)("GET", "/api/orgs")).status).toBe(401);
    const revokedAt = Date.now();
    await waitUntil(async () => (await api(b, jwtA)("GET", "/api/orgs")).status === 401, 5_000, "replica B to refuse the JWT");
    expect(Date.now() - revokedAt).toBeLessThanOrEqual(5_000);
  });
});

describe(`shutdown and logs (${DIALECT})`, () => {
  test("SIGTERM lets an in-flight request finish, then exits 0", async () => {
    const s = await startServer({ args: AS_PROXY });
    const encoder = new TextEncoder();
    let push!: (chunk: string | null) => void;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        push = (chunk) => (chunk === null ? c.close() : c.enqueue(encoder.encode(chunk)));
      },
    });
    // A slow upload keeps the request in flight across the signal.
    const response = fetch(`${s.url}/api/auth/pair`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      duplex: "half",
    } as RequestInit);
    push('{"token": "');
    await Bun.sleep(300);
    s.proc.kill("SIGTERM");
    await Bun.sleep(300);
    expect(s.proc.exitCode).toBeNull(); // still draining
    push(`${"n".repeat(32)}", "client": "cli"}`);
    push(null);
    const r = await response;
    expect(r.status).toBe(401);
    expect(await r.json()).toMatchObject({ error: { code: "invalid_pairing_token" } });
    expect(await s.exited).toBe(0);
    expect(s.logs().find((l) => l.msg === "stopped")).toMatchObject({ drained: true });
  });

  test("no credential issued during these tests appears in any server's output", () => expectNoCredentialIn(servers));
});
