// The audit log (issue 17): every kind of security-relevant event, made through real requests
// against a real server, is one row with the right actor, organization, target and outcome, and
// one "audit" log line; none holds a secret the test used. GET /api/orgs/:id/audit for owners and
// admins only, filters and cursor paging; retention; nothing lost on a clean stop; `warren audit`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AS_PROXY, api, issued, json, ownerSession, pair, pairingLink, printedPairingToken, sessionFrom } from "./auth-helpers";
import { cleanup, DIALECT, query, runWarren, spawnWarren, startServer, tempDir, waitUntil, type TestServer } from "./harness";
import { fakeHost, hostToken } from "./relay-helpers";
import { HAVE_CHROMIUM, launch } from "./browser";
import { attach, attachUrl } from "./term-helpers";
import type { ShownEvent } from "../server/audit";

afterAll(cleanup);

type Page = { events: ShownEvent[]; nextCursor: string | null };

describe(`audit log (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let org = "";
  let ownerId = "";
  let member = "";
  let outsider = "";
  let adminKey = "";
  const secrets: string[] = [];
  const keep = <T extends string>(t: T) => (secrets.push(t), issued.push(t), t);

  const log = (token = owner, q = "") => api(s, token)("GET", `/api/orgs/${org}/audit${q}`);
  const all = async (q = "") => (await json<Page>(log(owner, `?limit=500${q}`))).events;
  const one = async (action: string, q = "") => {
    const found = (await all(`&action=${action}${q}`))[0];
    if (!found) throw new Error(`no ${action} event`);
    return found;
  };

  beforeAll(async () => {
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    secrets.push(printedPairingToken(s));
    owner = keep(await ownerSession(s));
    const me = await json<{ activeOrganizationId: string; user: { id: string } }>(api(s, owner)("GET", "/api/auth/session"));
    org = me.activeOrganizationId;
    ownerId = me.user.id;
    member = keep(await sessionFrom(s, keep(await pairingLink(s, owner, { invite: { email: "mo@example.com", organizationId: org, role: "member" } }))));
    const other = await json<{ id: string }>(api(s, owner)("POST", "/api/orgs", { slug: "elsewhere", name: "Elsewhere" }));
    outsider = keep(await sessionFrom(s, keep(await pairingLink(s, owner, { invite: { email: "eve@example.com", organizationId: other.id, role: "owner" } }))));
    adminKey = keep((await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "auditor", organizationId: org }))).key);
  });
  afterAll(() => s.stop());

  test("sign-in, sessions, members and organizations: who, where, what, how it ended", async () => {
    const signin = await one("session.signin", `&actor=${ownerId}`);
    expect(signin).toMatchObject({ organizationId: org, outcome: "success", actor: { kind: "user", id: ownerId }, target: { type: "session", label: "cli" } });
    expect(signin.client.ip).toMatch(/^198\.51\.100\./);
    expect(signin.requestId).toBeTruthy();

    // A bad pairing token: no one known, no organization, and not the token.
    const bad = "x".repeat(43);
    secrets.push(bad);
    expect((await pair(s, bad, "cli", undefined, "203.0.113.7")).status).toBe(401);
    const failed = await waitRow("session.signin_failed");
    expect(failed).toMatchObject({ org_id: null, actor_kind: "anonymous", outcome: "failure", reason: "invalid_pairing_token", client_ip: "203.0.113.7" });

    const invite = await one("member.invite");
    expect(invite).toMatchObject({ actor: { kind: "user", id: ownerId }, target: { type: "invite", id: "mo@example.com" }, detail: { role: "member" } });
    const memberId = (await json<{ user: { id: string } }>(api(s, member)("GET", "/api/auth/session"))).user.id;
    expect(await one("member.join")).toMatchObject({ organizationId: org, actor: { kind: "user", id: memberId }, target: { type: "user", id: memberId } });

    expect((await api(s, owner)("PATCH", `/api/orgs/${org}/members/${memberId}`, { role: "admin" })).status).toBe(200);
    expect(await one("member.role_change")).toMatchObject({ actor: { id: ownerId }, target: { type: "user", id: memberId }, detail: { role: "admin" } });
    expect((await api(s, owner)("PATCH", `/api/orgs/${org}/members/${memberId}`, { role: "member" })).status).toBe(200);
    expect((await api(s, owner)("DELETE", `/api/orgs/${org}/members/${memberId}`)).status).toBe(204);
    expect(await one("member.remove")).toMatchObject({ actor: { id: ownerId }, target: { type: "user", id: memberId } });
    expect((await api(s, owner)("POST", `/api/orgs/${org}/members`, { userId: memberId, role: "member" })).status).toBe(201);
    expect(await one("member.add")).toMatchObject({ target: { id: memberId }, detail: { role: "member" } });
    const created = (await json<{ organizations: { id: string; slug: string }[] }>(api(s, owner)("GET", "/api/orgs"))).organizations.find((o) => o.slug === "elsewhere")!;
    expect((await json<Page>(api(s, owner)("GET", `/api/orgs/${created.id}/audit?action=org.create`))).events[0]).toMatchObject({ actor: { id: ownerId }, target: { type: "organization", label: "elsewhere" } });

    // Another session of the owner's, revoked; then one signed out.
    const second = keep(await sessionFrom(s, keep(await pairingLink(s, owner))));
    const sessions = (await json<{ sessions: { id: string; current: boolean }[] }>(api(s, second)("GET", "/api/auth/sessions"))).sessions;
    const secondId = sessions.find((x) => x.current)!.id;
    expect((await api(s, owner)("DELETE", `/api/auth/sessions/${secondId}`)).status).toBe(204);
    expect(await one("session.revoke")).toMatchObject({ actor: { id: ownerId }, target: { type: "session", id: secondId } });
    const third = keep(await sessionFrom(s, keep(await pairingLink(s, owner))));
    expect((await api(s, third)("POST", "/api/auth/sign-out")).status).toBe(204);
    expect(await one("session.signout")).toMatchObject({ actor: { id: ownerId }, target: { type: "session" } });
  });

  test("API keys: create, disable, revoke, and a revoked or disabled key used again (once a minute, not per try)", async () => {
    const made = await json<{ id: string; key: string; prefix: string }>(api(s, owner)("POST", "/api/api-keys", { name: "ci", organizationId: org }));
    keep(made.key);
    expect(await one("apikey.create")).toMatchObject({ organizationId: org, actor: { kind: "user", id: ownerId }, target: { type: "apikey", id: made.id, label: `sk_live_${made.prefix}` }, detail: { name: "ci" } });
    expect((await api(s, null, { "x-api-key": made.key })("GET", "/api/hosts")).status).toBe(200);
    expect((await api(s, owner)("DELETE", `/api/api-keys/${made.id}`)).status).toBe(204);
    expect(await one("apikey.revoke")).toMatchObject({ organizationId: org, target: { id: made.id, label: `sk_live_${made.prefix}` } });
    for (let i = 0; i < 5; i++) expect((await api(s, null, { "x-api-key": made.key })("GET", "/api/hosts")).status).toBe(401);
    await waitUntil(async () => (await all("&action=apikey.used_after_revoke")).length > 0, 10_000, "apikey.used_after_revoke");
    await Bun.sleep(200);
    const used = await all(`&action=apikey.used_after_revoke&target=${made.id}`);
    expect(used.length).toBe(1);
    expect(used[0]).toMatchObject({ organizationId: org, outcome: "failure", reason: "revoked", actor: { kind: "apikey", id: made.id, user: ownerId } });

    const off = await json<{ id: string; key: string; prefix: string }>(api(s, owner)("POST", "/api/api-keys", { name: "paused", organizationId: org }));
    keep(off.key);
    expect((await api(s, owner)("PATCH", `/api/api-keys/${off.id}`, { enabled: false })).status).toBe(200);
    expect(await one("apikey.disable")).toMatchObject({ target: { id: off.id }, detail: { enabled: false } });
    expect((await api(s, null, { "x-api-key": off.key })("GET", "/api/hosts")).status).toBe(401);
    await waitUntil(async () => (await all(`&action=apikey.used_after_revoke&target=${off.id}`)).length === 1, 10_000, "disabled key used");
    expect((await all(`&action=apikey.used_after_revoke&target=${off.id}`))[0]!.reason).toBe("disabled");
    // A key that never existed is a bad key, not a revoked one.
    expect((await api(s, null, { "x-api-key": "sk_live_" + "Z".repeat(43) })("GET", "/api/hosts")).status).toBe(401);
  });

  test("failed credentials past the limit trip the rate limit: recorded once, without an organization", async () => {
    const from = "203.0.113.99";
    let last = 0;
    for (let i = 0; i < 25; i++) last = (await api(s, "wss_" + "Q".repeat(43), { "x-forwarded-for": from })("GET", "/api/hosts")).status;
    expect(last).toBe(429);
    const trip = await waitRow("ratelimit.trip");
    expect(trip).toMatchObject({ org_id: null, actor_kind: "anonymous", outcome: "failure", reason: "rate_limited", target_type: "client", target_id: from });
    expect(await query(s, `SELECT id FROM audit_events WHERE action = 'ratelimit.trip'`)).toHaveLength(1);
  });

  test("hosts: a JWT minted for one, connect, rename, apps opened, remove, disconnect", async () => {
    const token = await hostToken(s, adminKey, "buildbox");
    secrets.push(token);
    const keyId = (await json<{ apiKey: { id: string } }>(api(s, null, { "x-api-key": adminKey })("GET", "/api/auth/session"))).apiKey.id;
    expect(await one("jwt.mint")).toMatchObject({ organizationId: org, actor: { kind: "apikey", id: keyId, user: ownerId }, target: { type: "host", label: "buildbox" } });

    const ws = new WebSocket(`${s.url.replace(/^http/, "ws")}/relay/connect`, {
      headers: { authorization: `Bearer ${token}`, "x-warren-host-version": "test", "x-warren-host-platform": "linux-x64", "x-warren-host-ports": "3000" },
    } as unknown as string[]);
    const closed = new Promise<number>((r) => (ws.onclose = (e) => r(e.code)));
    await waitUntil(async () => (await all("&action=host.connect")).length > 0, 10_000, "host.connect");
    const connect = await one("host.connect");
    const hostId = connect.target!.id!;
    expect(connect).toMatchObject({ organizationId: org, actor: { kind: "host", id: hostId, user: ownerId }, target: { type: "host", label: "buildbox" } });

    expect((await api(s, owner)("PATCH", `/api/hosts/${hostId}`, { name: "buildbox2" })).status).toBe(200);
    expect(await one("host.rename")).toMatchObject({ target: { id: hostId, label: "buildbox2" }, detail: { from: "buildbox" } });

    const host = (await json<{ hosts: { id: string; apps: { url: string | null }[] }[] }>(api(s, owner)("GET", "/api/hosts"))).hosts.find((h) => h.id === hostId)!;
    const label = new URL(host.apps[0]!.url!).hostname.split(".")[0]!;
    const launch = await fetch(`${s.url}/apps/launch?app=${label}`, { headers: { authorization: `Bearer ${owner}` }, redirect: "manual" });
    expect(launch.status).toBe(302);
    secrets.push(new URL(launch.headers.get("location")!).search);
    expect(await one("app.open")).toMatchObject({ organizationId: org, actor: { id: ownerId }, target: { type: "port", id: `${hostId}:3000`, label } });
    // A program through the port proxy: recorded the first time, not on every request.
    for (let i = 0; i < 3; i++) await fetch(`${s.url}/api/hosts/${hostId}/ports/3000/x`, { headers: { "x-api-key": adminKey }, signal: AbortSignal.timeout(300) }).catch(() => null);
    expect(await one("port.open")).toMatchObject({ organizationId: org, actor: { kind: "apikey", id: keyId }, target: { type: "port", id: `${hostId}:3000`, label: "buildbox2" } });
    expect(await all("&action=port.open")).toHaveLength(1);

    expect((await api(s, owner)("DELETE", `/api/hosts/${hostId}`)).status).toBe(204);
    expect(await closed).toBe(4410);
    expect(await one("host.remove")).toMatchObject({ target: { id: hostId, label: "buildbox2" }, actor: { id: ownerId } });

    // A host that goes away by itself.
    const again = await fakeHost(s, await hostToken(s, adminKey, "laptop"), () => {});
    again.ws.close();
    await again.closed;
    await waitUntil(async () => (await all("&action=host.disconnect")).length > 0, 10_000, "host.disconnect");
    expect(await one("host.disconnect")).toMatchObject({ organizationId: org, actor: { kind: "host", id: again.hello.hostId }, target: { label: "laptop" } });
  });

  test("terminals on the server's own host: create, attach, kill — who and which host", async () => {
    const t = await json<{ id: string }>(api(s, owner)("POST", "/api/hosts/local/terminals", { cmd: ["sh"] }));
    expect(await one("terminal.create")).toMatchObject({ organizationId: org, actor: { id: ownerId }, target: { type: "terminal", id: t.id }, detail: { host: "local" } });
    let greeted!: () => void;
    const hello = new Promise<void>((r) => (greeted = r));
    const a = attach(attachUrl(s, t.id), { headers: { authorization: `Bearer ${owner}` }, onHello: () => greeted() });
    await hello;
    expect(await one("terminal.attach")).toMatchObject({ target: { id: t.id }, detail: { mode: "write" } });
    a.ws.close();
    expect((await api(s, owner)("DELETE", `/api/hosts/local/terminals/${t.id}`)).status).toBe(202);
    expect(await one("terminal.kill")).toMatchObject({ target: { id: t.id }, actor: { id: ownerId } });
  });

  test("GET /api/orgs/:id/audit: 401 without credentials, 403 for a member, 404 for another org, an admin's key reads it", async () => {
    expect((await fetch(`${s.url}/api/orgs/${org}/audit`)).status).toBe(401);
    const m = await log(member);
    expect(m.status).toBe(403);
    expect((await log(outsider)).status).toBe(404);
    expect((await api(s, owner)("GET", "/api/orgs/org_nope/audit")).status).toBe(404);
    expect((await api(s, null, { "x-api-key": adminKey })("GET", `/api/orgs/${org}/audit`)).status).toBe(200);
    expect((await log(owner, "?cursor=bogus")).status).toBe(400);
    expect((await log(owner, "?action=DROP TABLE")).status).toBe(400);
  });

  test("filters and cursor paging: every event once, newest first", async () => {
    const everything = await all();
    expect(everything.length).toBeGreaterThan(20);
    const paged: ShownEvent[] = [];
    let cursor: string | null = null;
    do {
      const page: Page = await json<Page>(log(owner, `?limit=4${cursor ? `&cursor=${cursor}` : ""}`));
      expect(page.events.length).toBeLessThanOrEqual(4);
      paged.push(...page.events);
      cursor = page.nextCursor;
    } while (cursor);
    expect(paged.map((e) => e.id)).toEqual(everything.map((e) => e.id));
    const times = everything.map((e) => Date.parse(e.time));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const members = await all("&action=member.*");
    expect(new Set(members.map((e) => e.action))).toEqual(new Set(["member.invite", "member.join", "member.role_change", "member.remove", "member.add"]));
    expect((await all(`&actor=${ownerId}`)).every((e) => e.actor.id === ownerId || e.actor.user === ownerId)).toBe(true);
    expect((await all("&target=buildbox2")).map((e) => e.action).sort()).toEqual(["host.remove", "host.rename", "port.open"]);
    const middle = everything[Math.floor(everything.length / 2)]!;
    const newer = await all(`&since=${middle.time}`);
    expect(newer.every((e) => e.time >= middle.time)).toBe(true);
    const older = await all(`&until=${middle.time}`);
    expect(older.every((e) => e.time < middle.time)).toBe(true);
    expect(newer.length + older.length).toBe(everything.length);
  });

  test("every event is one audit log line, and no row, line or answer holds a secret the test used", async () => {
    const rows = await query(s, "SELECT * FROM audit_events");
    const actions = new Set(rows.map((r) => r.action as string));
    for (const a of ["session.signin", "session.signin_failed", "session.signout", "session.revoke", "apikey.create", "apikey.revoke", "apikey.disable", "apikey.used_after_revoke", "member.invite", "member.join", "member.add", "member.role_change", "member.remove", "org.create", "jwt.mint", "host.connect", "host.disconnect", "host.remove", "host.rename", "terminal.create", "terminal.attach", "terminal.kill", "app.open", "port.open", "ratelimit.trip"]) {
      expect(actions).toContain(a);
    }
    await waitUntil(() => s.logs().filter((l) => l.msg === "audit").length >= rows.length, 5_000, "audit log lines");
    const lines = s.logs().filter((l) => l.msg === "audit");
    expect(new Set(lines.map((l) => l.event))).toEqual(new Set(rows.map((r) => r.id)));
    const text = [JSON.stringify(rows), JSON.stringify(lines), JSON.stringify(await all()), s.stderr()].join("\n");
    const used = [...new Set([...secrets, ...issued])].filter((t) => t.length >= 16);
    expect(used.length).toBeGreaterThan(10);
    for (const secret of used) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/wss_[A-Za-z0-9_-]{20}|sk_live_[A-Za-z0-9_-]{20}|eyJ[A-Za-z0-9_-]+\.eyJ/);
  });

  test("warren audit --json prints the events; --follow prints new ones as they happen", async () => {
    const env = { WARREN_HOME: tempDir(), WARREN_SERVER: s.url, WARREN_API_KEY: adminKey };
    const help = await runWarren(["audit", "--help"], { env });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--follow");
    const r = await runWarren(["audit", "--json", "--action", "member.*", "--since", "1h"], { env });
    expect(r.code).toBe(0);
    const printed = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as ShownEvent);
    expect(printed.map((e) => e.action)).toContain("member.join");
    expect(printed.every((e) => e.action.startsWith("member.") && e.organizationId === org)).toBe(true);
    expect((await runWarren(["audit", "--since", "yesterday-ish"], { env })).code).toBe(2);
    expect((await runWarren(["audit", "--org", "org_nope"], { env })).code).toBe(1);

    const follow = spawnWarren(["audit", "--follow", "--json", "--action", "apikey.create"], { env });
    await Bun.sleep(1500);
    const made = await json<{ id: string; key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "followed", organizationId: org }));
    keep(made.key);
    await follow.waitFor(new RegExp(made.id), { ms: 10_000 });
    follow.proc.kill("SIGTERM");
    await follow.exited;
    const lines = follow.stdout().trim().split("\n").map((l) => JSON.parse(l) as ShownEvent);
    expect(lines.filter((e) => e.target?.id === made.id)).toHaveLength(1);
    expect(follow.stdout()).not.toContain(made.key);
  });

  /** A row straight from the table (events without an organization are not in any org's API). */
  async function waitRow(action: string): Promise<Record<string, unknown>> {
    let rows: Record<string, unknown>[] = [];
    await waitUntil(async () => (rows = await query(s, `SELECT * FROM audit_events WHERE action = '${action}'`)).length > 0, 10_000, action);
    return rows[0]!;
  }
});

describe(`audit log: retention and shutdown (${DIALECT})`, () => {
  test("a clean stop writes what was recorded just before it", async () => {
    const s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    await ownerSession(s);
    expect(await s.stop()).toBe(0);
    expect(await query(s, "SELECT action FROM audit_events WHERE action = 'session.signin'")).toHaveLength(1);
  });

  test("WARREN_AUDIT_RETENTION: events older than it are swept", async () => {
    const s = await startServer({ args: AS_PROXY, env: { WARREN_AUDIT_RETENTION: "2s" } });
    await s.waitFor(/\/pair#token=/);
    await ownerSession(s);
    await waitUntil(async () => (await query(s, "SELECT id FROM audit_events")).length > 0, 5_000, "an event");
    await waitUntil(async () => (await query(s, "SELECT id FROM audit_events")).length === 0, 10_000, "the sweep");
    await waitUntil(() => s.logs().some((l) => l.msg === "audit events past retention deleted"), 5_000, "the sweep's log line");
    await s.stop();
  });

  test("--audit-retention takes days and refuses what is not a duration", async () => {
    const bad = await runWarren(["serve", "--port", "0", "--data-dir", tempDir(), "--audit-retention", "forever"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--audit-retention");
  });
});

describe.if(HAVE_CHROMIUM)(`audit log on the dashboard (${DIALECT})`, () => {
  test("owners and admins see the Audit log section, and filter it; members do not", async () => {
    const s = await startServer();
    await s.waitFor(/\/pair#token=/);
    const browser = await launch();
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${s.url}/pair#token=${printedPairingToken(s)}`);
      await page.waitForURL(`${s.url}/`);
      const section = page.getByRole("region", { name: "Audit log" });
      await section.getByRole("cell", { name: "session.signin" }).waitFor();
      await page.getByLabel("Email").fill("mo@example.com");
      await page.getByRole("button", { name: "Create invite link" }).click();
      await page.locator("#secret-value", { hasText: "#token=" }).waitFor();
      const link = (await page.locator("#secret-value").textContent())!;
      issued.push(link.split("#token=")[1]!);
      await page.getByRole("button", { name: "Done, hide it" }).click();
      await section.getByRole("cell", { name: "member.invite" }).waitFor();
      await section.getByLabel("Show").selectOption("member.*");
      await section.getByRole("cell", { name: "session.signin" }).waitFor({ state: "detached" });
      expect(await section.getByRole("cell", { name: "member.invite" }).count()).toBe(1);

      const mo = await (await browser.newContext()).newPage();
      await mo.goto(link);
      await mo.waitForURL(`${s.url}/`);
      await mo.locator("#who", { hasText: "mo@example.com" }).waitFor();
      await mo.locator("#members").getByRole("cell", { name: "mo@example.com" }).first().waitFor();
      expect(await mo.locator("#audit-section").isHidden()).toBe(true);
    } finally {
      await browser.close();
      await s.stop();
    }
  });
});
