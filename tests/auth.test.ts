// Auth core (SPEC §2): each test tries to break one rule of §2.4.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, AS_PROXY, issued, json, ownerSession, pair, pairingLink, printedPairingToken, sessionFrom, someClient } from "./auth-helpers";
import { cleanup, DIALECT, query, startServer, type TestServer } from "./harness";

afterAll(cleanup);

type Session = { authenticated: boolean; user: { id: string }; organizations: { id: string; role: string }[]; activeOrganizationId: string; method: string };

describe(`first start and pairing (${DIALECT})`, () => {
  test("a fresh server prints one pairing link on stdout, never in the log; a restart prints none", async () => {
    const s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    const token = printedPairingToken(s);
    expect(s.stdout().match(/\/pair#token=/g)).toHaveLength(1);
    expect(s.stderr()).not.toContain(token);
    await s.stop();
    const again = await startServer({ dataDir: s.dataDir, databaseUrl: s.databaseUrl ?? null, args: AS_PROXY });
    await Bun.sleep(200);
    expect(again.stdout()).not.toContain("/pair#token=");
    await again.stop();
  });

  test("the printed link signs in the owner of the first organization, once", async () => {
    const s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    const pairing = printedPairingToken(s);
    const token = await sessionFrom(s, pairing);
    expect(token).toMatch(/^wss_[A-Za-z0-9_-]{43}$/);
    const me = await json<Session>(api(s, token)("GET", "/api/auth/session"));
    expect(me).toMatchObject({ authenticated: true, method: "session" });
    expect(me.organizations).toEqual([expect.objectContaining({ role: "owner", slug: "default" })]);
    expect(me.activeOrganizationId).toBe(me.organizations[0]!.id);
    const reuse = await pair(s, pairing);
    expect(reuse.status).toBe(401);
    await s.stop();
  });

  test("--bootstrap-token seeds the owner's token; after use a restart with it does nothing", async () => {
    const seeded = "Seeded_" + "x".repeat(30);
    issued.push(seeded);
    const s = await startServer({ args: [...AS_PROXY, "--bootstrap-token", seeded] });
    await s.waitFor(/\/pair#token=/);
    expect(printedPairingToken(s)).toBe(seeded);
    await sessionFrom(s, seeded);
    await s.stop();
    const again = await startServer({ dataDir: s.dataDir, databaseUrl: s.databaseUrl ?? null, args: [...AS_PROXY, "--bootstrap-token", seeded] });
    expect((await pair(again, seeded)).status).toBe(401);
    await again.stop();
  });

  test("rule 4: fifty concurrent redemptions of one link make exactly one session", async () => {
    const s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    const owner = await ownerSession(s);
    const link = await pairingLink(s, owner);
    const results = await Promise.all(Array.from({ length: 50 }, () => pair(s, link)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((c) => c === 200)).toHaveLength(1);
    expect(statuses.filter((c) => c === 401)).toHaveLength(49);
    const sessions = await json<{ sessions: unknown[] }>(api(s, owner)("GET", "/api/auth/sessions"));
    expect(sessions.sessions).toHaveLength(2);
    await s.stop();
  });

  test("a link with uses: 3 works three times; an expired link never", async () => {
    const s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    const owner = await ownerSession(s);
    const link = await pairingLink(s, owner, { uses: 3 });
    for (let i = 0; i < 3; i++) expect((await pair(s, link)).status).toBe(200);
    expect((await pair(s, link)).status).toBe(401);
    const short = await pairingLink(s, owner, { ttlSeconds: 30 });
    await query(s, `UPDATE pairing_tokens SET expires_at = ${DIALECT === "pg" ? "now() - interval '1 second'" : String(Date.now() - 1000)}`);
    const r = await pair(s, short);
    expect(r.status).toBe(401);
    await s.stop();
  });

  test("unknown, used and expired pairing tokens get the same 401 body", async () => {
    const s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    const owner = await ownerSession(s);
    const used = await pairingLink(s, owner);
    await pair(s, used);
    const expired = await pairingLink(s, owner);
    await query(s, `UPDATE pairing_tokens SET expires_at = ${DIALECT === "pg" ? "now() - interval '1 second'" : String(Date.now() - 1000)}`);
    const bodies = await Promise.all(["A".repeat(32), used, expired, "short", "bad token with spaces!"].map(async (t) => [(await pair(s, t)).status, await (await pair(s, "x" + t)).text()]));
    const first = await (await pair(s, "Z".repeat(32))).text();
    for (const [, body] of bodies) expect(body).toBe(first);
    await s.stop();
  });
});

describe(`credentials and the resolver (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  beforeAll(async () => {
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
  });
  afterAll(() => s.stop());

  test("no credential: /api/auth/session says so (200); every other API route answers 401", async () => {
    expect(await json(api(s, null)("GET", "/api/auth/session"))).toEqual({ authenticated: false });
    const protectedRoutes: [string, string][] = [
      ["POST", "/api/auth/sign-out"],
      ["PATCH", "/api/auth/session"],
      ["GET", "/api/auth/sessions"],
      ["DELETE", "/api/auth/sessions/ses_x"],
      ["POST", "/api/auth/pairing-links"],
      ["GET", "/api/orgs"],
      ["POST", "/api/orgs"],
      ["GET", "/api/orgs/org_x/members"],
      ["POST", "/api/orgs/org_x/members"],
      ["PATCH", "/api/orgs/org_x/members/usr_x"],
      ["DELETE", "/api/orgs/org_x/members/usr_x"],
      ["GET", "/api/auth/token"],
      ["POST", "/api/ws-ticket"],
      ["GET", "/api/api-keys"],
      ["POST", "/api/api-keys"],
      ["PATCH", "/api/api-keys/key_x"],
      ["DELETE", "/api/api-keys/key_x"],
      ["GET", "/api/hosts"],
      ["GET", "/api/hosts/local/terminals"],
      ["POST", "/api/hosts/local/terminals"],
      ["DELETE", "/api/hosts/local/terminals/term_x"],
    ];
    for (const [method, path] of protectedRoutes) {
      const r = await api(s, null)(method, path, method === "GET" || method === "DELETE" ? undefined : {});
      expect([method, path, r.status]).toEqual([method, path, 401]);
      expect((await r.json()) as object).toMatchObject({ error: { code: "unauthorized" } });
    }
  });

  test("rules 1 and 11: malformed, forged, truncated, oversized and unknown credentials → 401, never 500, never echoed", async () => {
    const bad = [
      "wss_",
      owner.slice(0, -1),
      owner + "A",
      owner.replace("wss_", "wsx_"),
      "wss_" + "!".repeat(43),
      "wss_" + "A".repeat(43),
      "wss_" + "A".repeat(6_000),
      "sk_live_" + "B".repeat(43),
      "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
      "null",
      "%00",
    ];
    for (const t of bad) {
      const variants: Record<string, string>[] = [{ authorization: `Bearer ${t}` }, { "x-api-key": t }, { cookie: `warren_session=${t}` }];
      for (const headers of variants) {
        const r = await fetch(`${s.url}/api/orgs`, { headers: { ...headers, "x-forwarded-for": someClient() } });
        expect(r.status).toBe(401);
        const text = await r.text();
        expect(text).not.toContain(t.slice(0, 40));
        expect(JSON.parse(text)).toMatchObject({ error: { code: "unauthorized" } });
      }
    }
    for (const h of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", owner]) {
      expect((await fetch(`${s.url}/api/orgs`, { headers: { authorization: h, "x-forwarded-for": someClient() } })).status).toBe(401);
    }
    // Far past any header limit: refused by the HTTP layer (431), still not a 500.
    const huge = await fetch(`${s.url}/api/orgs`, { headers: { authorization: `Bearer wss_${"A".repeat(100_000)}` } });
    expect([401, 431]).toContain(huge.status);
    // The WebSocket route refuses an anonymous upgrade the same way (and a plain GET with 426).
    const upgrade = await fetch(`${s.url}/api/hosts/local/terminals/term_x/attach`, {
      headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-version": "13" },
    });
    expect(upgrade.status).toBe(401);
    expect((await fetch(`${s.url}/api/hosts/local/terminals/term_x/attach`)).status).toBe(426);
    // A bad credential is a 401 even on the route that tolerates none.
    expect((await api(s, "wss_" + "C".repeat(43))("GET", "/api/auth/session")).status).toBe(401);
  }, 60_000);

  test("rule 1: an expired session → 401", async () => {
    const r = await pair(s, await pairingLink(s, owner), "cli", "expiring");
    const { sessionToken } = (await r.json()) as { sessionToken: string };
    issued.push(sessionToken);
    await query(s, `UPDATE sessions SET expires_at = ${DIALECT === "pg" ? "now() - interval '1 second'" : String(Date.now() - 1000)} WHERE device_name = 'expiring'`);
    expect((await api(s, sessionToken)("GET", "/api/orgs")).status).toBe(401);
    expect((await api(s, owner)("GET", "/api/orgs")).status).toBe(200);
  });

  test("rules 1 and 5: revoking a session (own list, or sign-out) is a 401 at once on this server", async () => {
    const t = await sessionFrom(s, await pairingLink(s, owner));
    expect((await api(s, t)("GET", "/api/orgs")).status).toBe(200); // now cached
    const { sessions } = await json<{ sessions: { id: string; current: boolean }[] }>(api(s, t)("GET", "/api/auth/sessions"));
    const mine = sessions.find((x) => x.current)!;
    expect((await api(s, owner)("DELETE", `/api/auth/sessions/${mine.id}`)).status).toBe(204);
    expect((await api(s, t)("GET", "/api/orgs")).status).toBe(401);
    const t2 = await sessionFrom(s, await pairingLink(s, owner));
    expect((await api(s, t2)("GET", "/api/orgs")).status).toBe(200);
    // A JWT minted from the session dies with it, here at once, not when its cache entry ages out.
    const jwt = (await json<{ token: string }>(api(s, t2)("GET", "/api/auth/token"))).token;
    issued.push(jwt);
    expect((await api(s, jwt)("GET", "/api/orgs")).status).toBe(200); // now cached
    expect((await api(s, t2)("POST", "/api/auth/sign-out")).status).toBe(204);
    expect((await api(s, t2)("GET", "/api/orgs")).status).toBe(401);
    expect((await api(s, jwt)("GET", "/api/orgs")).status).toBe(401);
    expect((await api(s, owner)("DELETE", `/api/auth/sessions/${mine.id}`)).status).toBe(404);
  });

  test("rule 6: only hashes at rest — a copied database row signs no one in", async () => {
    const rows = await query(s, "SELECT token_hash FROM sessions");
    const hashes = rows.map((r) => String(r.token_hash));
    expect(hashes.length).toBeGreaterThan(0);
    const dump = JSON.stringify(await query(s, "SELECT * FROM sessions")) + JSON.stringify(await query(s, "SELECT * FROM pairing_tokens"));
    for (const t of issued) expect(dump).not.toContain(t);
    for (const h of hashes) {
      expect((await api(s, h)("GET", "/api/orgs")).status).toBe(401);
      expect((await api(s, `wss_${h}`)("GET", "/api/orgs")).status).toBe(401);
    }
  });

  test("sessions list marks the current one and shows device names, never tokens", async () => {
    const r = await json<{ sessions: Record<string, unknown>[] }>(api(s, owner)("GET", "/api/auth/sessions"));
    expect(r.sessions.filter((x) => x.current)).toHaveLength(1);
    const text = JSON.stringify(r);
    expect(text).not.toContain("wss_");
    expect(text).not.toContain("token");
  });

  test("sliding expiry: a session renews to 30 days at most once a day", async () => {
    const { sessionToken: t } = (await (await pair(s, await pairingLink(s, owner), "cli", "sliding")).json()) as { sessionToken: string };
    issued.push(t);
    const in10Days = Date.now() + 10 * 86_400_000;
    await query(s, `UPDATE sessions SET expires_at = ${DIALECT === "pg" ? `to_timestamp(${in10Days / 1000})` : in10Days} WHERE device_name = 'sliding'`);
    const me = await json<{ expiresAt: string }>(api(s, t)("GET", "/api/auth/session"));
    const renewed = Date.parse(me.expiresAt);
    expect(renewed).toBeGreaterThan(Date.now() + 29.9 * 86_400_000);
    await Bun.sleep(2100); // past the resolver's cache: the next check reads the row again
    const again = await json<{ expiresAt: string }>(api(s, t)("GET", "/api/auth/session"));
    expect(Date.parse(again.expiresAt)).toBe(renewed);
  });
});

describe(`organizations and members (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let orgA = "";
  beforeAll(async () => {
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    orgA = (await json<Session>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
  });
  afterAll(() => s.stop());

  const invite = async (by: string, orgId: string, email: string, role: string) =>
    sessionFrom(s, await pairingLink(s, by, { invite: { email, organizationId: orgId, role } }));

  test("an invite link makes a new member with the role; they see only their orgs", async () => {
    const bob = await invite(owner, orgA, "bob@example.com", "member");
    const me = await json<Session>(api(s, bob)("GET", "/api/auth/session"));
    expect(me.organizations).toEqual([expect.objectContaining({ id: orgA, role: "member" })]);
    const members = await json<{ members: { email: string; role: string }[] }>(api(s, owner)("GET", `/api/orgs/${orgA}/members`));
    expect(members.members.map((m) => [m.email, m.role])).toContainEqual(["bob@example.com", "member"]);
  });

  test("rule 13: a member of org B guessing org A's id gets 404, reading or writing", async () => {
    const carol = await invite(owner, orgA, "carol@example.com", "member");
    const orgB = await json<{ id: string }>(api(s, carol)("POST", "/api/orgs", { name: "Carol's", slug: "carols" }));
    const dave = await invite(carol, orgB.id, "dave@example.com", "admin");
    const daveApi = api(s, dave);
    expect((await daveApi("GET", `/api/orgs/${orgA}/members`)).status).toBe(404);
    expect((await daveApi("POST", `/api/orgs/${orgA}/members`, { userId: "usr_x", role: "member" })).status).toBe(404);
    expect((await daveApi("DELETE", `/api/orgs/${orgA}/members/usr_x`)).status).toBe(404);
    expect((await daveApi("POST", "/api/auth/pairing-links", { invite: { email: "e@example.com", organizationId: orgA, role: "member" } })).status).toBe(404);
    expect((await daveApi("PATCH", "/api/auth/session", { activeOrganizationId: orgA })).status).toBe(404);
    const list = await json<{ organizations: { id: string }[] }>(daveApi("GET", "/api/orgs"));
    expect(list.organizations.map((o) => o.id)).toEqual([orgB.id]);
  });

  test("members cannot manage; admins cannot make owners; the last owner stays", async () => {
    const erin = await invite(owner, orgA, "erin@example.com", "member");
    const frank = await invite(owner, orgA, "frank@example.com", "admin");
    const members = await json<{ members: { userId: string; email: string | null; role: string }[] }>(api(s, owner)("GET", `/api/orgs/${orgA}/members`));
    const id = (email: string | null) => members.members.find((m) => m.email === email)!.userId;
    const ownerId = members.members.find((m) => m.role === "owner")!.userId;
    expect((await api(s, erin)("PATCH", `/api/orgs/${orgA}/members/${id("bob@example.com")}`, { role: "admin" })).status).toBe(403);
    expect((await api(s, erin)("POST", "/api/auth/pairing-links", { invite: { email: "x@example.com", organizationId: orgA, role: "member" } })).status).toBe(403);
    expect((await api(s, frank)("PATCH", `/api/orgs/${orgA}/members/${id("erin@example.com")}`, { role: "owner" })).status).toBe(403);
    expect((await api(s, frank)("PATCH", `/api/orgs/${orgA}/members/${ownerId}`, { role: "member" })).status).toBe(403);
    expect((await api(s, frank)("PATCH", `/api/orgs/${orgA}/members/${id("erin@example.com")}`, { role: "admin" })).status).toBe(200);
    const demoteLast = await api(s, owner)("PATCH", `/api/orgs/${orgA}/members/${ownerId}`, { role: "admin" });
    expect(demoteLast.status).toBe(409);
    expect(await demoteLast.json()).toMatchObject({ error: { code: "last_owner" } });
    expect((await api(s, owner)("DELETE", `/api/orgs/${orgA}/members/${ownerId}`)).status).toBe(409);
  });

  test("removing a member takes effect at once; adding them back restores access", async () => {
    const gina = await invite(owner, orgA, "gina@example.com", "member");
    expect((await api(s, gina)("GET", `/api/orgs/${orgA}/members`)).status).toBe(200);
    const me = await json<Session>(api(s, gina)("GET", "/api/auth/session"));
    expect((await api(s, owner)("DELETE", `/api/orgs/${orgA}/members/${me.user.id}`)).status).toBe(204);
    expect((await api(s, gina)("GET", `/api/orgs/${orgA}/members`)).status).toBe(404);
    expect((await api(s, owner)("POST", `/api/orgs/${orgA}/members`, { userId: me.user.id, role: "member" })).status).toBe(201);
    expect((await api(s, gina)("GET", `/api/orgs/${orgA}/members`)).status).toBe(200);
  });

  test("org input is validated: bad slug 400, taken slug 409", async () => {
    const bad = await api(s, owner)("POST", "/api/orgs", { name: "X", slug: "Not A Slug!" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: "invalid_request" } });
    expect((await api(s, owner)("POST", "/api/orgs", { name: "T", slug: "team-1" })).status).toBe(201);
    expect((await api(s, owner)("POST", "/api/orgs", { name: "T2", slug: "team-1" })).status).toBe(409);
  });

  test("switching the active organization is per session and checked", async () => {
    const org = await json<{ id: string }>(api(s, owner)("POST", "/api/orgs", { name: "Switch", slug: "switch" }));
    const r = await json<Session>(api(s, owner)("PATCH", "/api/auth/session", { activeOrganizationId: org.id }));
    expect(r.activeOrganizationId).toBe(org.id);
    expect((await json<Session>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId).toBe(org.id);
  });
});
