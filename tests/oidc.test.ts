// Sign-in with an OpenID Connect provider (docs/oidc.md), against a real one: oidc-provider on
// 127.0.0.1, in headless Chromium, and with the CLI. Who gets in (invitation, allowed domain,
// verified email, matched by subject), group mapping at every sign-in and its removal (rule 5),
// refusals as pages in words (wrong state, replayed code, expired or wrongly-signed ID tokens —
// those two from a tiny fake provider, a real one never mints them), a provider that is down at
// start and at sign-in, and no code, token or secret in any log.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { api, AS_PROXY, expectNoCredentialIn, issued, json, ownerSession, pair, pairingLink, sessionFrom } from "./auth-helpers";
import { HAVE_CHROMIUM, launch, screenshotPath } from "./browser";
import { cleanup, DIALECT, MAIN, query, ROOT, runWarren, startServer, tempDir, waitUntil, type TestServer } from "./harness";
import { ConfigError, resolveServeConfig } from "../server/config";
import { CLIENT_ID, CLIENT_SECRET, providerDeviceLogin, providerLogin, startFakeProvider, startProvider, type TestProvider } from "./oidc-helpers";

afterAll(cleanup);

interface Session {
  authenticated: boolean;
  user?: { id: string; email: string | null; name: string };
  organizations?: { id: string; slug: string; role: string }[];
}

function oidcArgs(issuer: string, secretFile: string, extra: string[] = []): string[] {
  return ["--oidc-issuer", issuer, "--oidc-client-id", CLIENT_ID, "--oidc-client-secret-file", secretFile, "--oidc-name", "Test IdP", ...extra];
}

describe("OIDC settings", () => {
  const config = (extra: Record<string, unknown>) => resolveServeConfig({ dataDir: tempDir(), ...extra });
  test("parsed into one config: the secret from a file, domains, the group map (group names may hold colons), default scopes", () => {
    const file = join(tempDir(), "secret");
    writeFileSync(file, "s3cret\n", { mode: 0o600 });
    const c = config({
      oidcIssuer: "https://idp.example.com/realms/eng",
      oidcClientId: "warren",
      oidcClientSecretFile: file,
      oidcAllowDomains: ["Example.com", "@corp.example"],
      oidcGroupsClaim: "groups",
      oidcGroupMap: ["eng:default:member,my-org:leads:Default:admin", "ops:ops:owner"],
    }).oidc!;
    expect(c).toEqual({
      issuer: "https://idp.example.com/realms/eng",
      clientId: "warren",
      clientSecret: "s3cret",
      name: "idp.example.com",
      allowDomains: ["example.com", "corp.example"],
      groupsClaim: "groups",
      groupMap: [
        { group: "eng", orgSlug: "default", role: "member" },
        { group: "my-org:leads", orgSlug: "default", role: "admin" },
        { group: "ops", orgSlug: "ops", role: "owner" },
      ],
      scopes: ["openid", "email", "profile", "groups"],
      required: false,
    });
    expect(config({ oidcIssuer: "https://idp.example.com", oidcClientId: "w", oidcRequired: true }).oidc!.required).toBe(true);
    expect(config({}).oidc).toBeUndefined();
  });

  test("what cannot work is refused at start, saying why", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ oidcIssuer: "https://idp.example.com" }, "needs both --oidc-issuer and --oidc-client-id"],
      [{ oidcIssuer: "http://idp.example.com", oidcClientId: "w" }, "must be an https:// URL (plain http only for a provider on loopback)"],
      [{ oidcIssuer: "https://idp.example.com", oidcClientId: "w", oidcGroupMap: ["eng:default:boss"] }, "takes group:org-slug:role entries"],
      [{ oidcIssuer: "https://idp.example.com", oidcClientId: "w", oidcGroupMap: ["eng:default:member"] }, "needs --oidc-groups-claim"],
      [{ oidcIssuer: "https://idp.example.com", oidcClientId: "w", oidcAllowDomains: ["not a domain"] }, "takes an email domain"],
      [{ oidcIssuer: "https://idp.example.com", oidcClientId: "w", oidcClientSecretFile: "/nonexistent/secret" }, "cannot read /nonexistent/secret"],
      [{ oidcRequired: true }, "--oidc-required needs --oidc-issuer"],
    ];
    for (const [input, message] of cases) expect(() => config(input)).toThrow(message);
    expect(() => config(cases[0]![0])).toThrow(ConfigError);
    const r = await runWarren(["serve", "--port", "0", "--data-dir", tempDir(), "--oidc-issuer", "https://idp.example.com"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("needs both --oidc-issuer and --oidc-client-id");
  });
});

describe.if(HAVE_CHROMIUM)(`OIDC sign-in in Chromium (${DIALECT})`, () => {
  let browser: Browser;
  let provider: TestProvider;
  let s: TestServer;
  let owner: string;
  let secretFile: string;
  const servers: TestServer[] = [];
  const shown: string[] = [];

  beforeAll(async () => {
    browser = await launch();
    provider = await startProvider();
    secretFile = join(tempDir(), "oidc-secret");
    writeFileSync(secretFile, CLIENT_SECRET + "\n", { mode: 0o600 });
    s = await startServer({
      args: [
        ...AS_PROXY,
        ...oidcArgs(provider.issuer, secretFile, ["--oidc-allow-domain", "allowed.test", "--oidc-groups-claim", "groups", "--oidc-group-map", "eng:default:member,leads:default:admin", "--oidc-group-map", "ops:ops:member"]),
      ],
    });
    servers.push(s);
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    expect((await api(s, owner)("POST", "/api/orgs", { name: "Ops", slug: "ops" })).status).toBe(201);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    for (const x of servers) await x.stop();
    await provider?.close();
  });

  /** Clicks "Sign in with Test IdP" on /pair and logs in at the provider as `login`; returns where it ends. */
  async function signIn(page: Page, server: TestServer, login: string): Promise<void> {
    await page.goto(`${server.url}/pair`);
    await page.getByRole("button", { name: "Sign in with Test IdP" }).click();
    await page.waitForURL((u) => !u.href.startsWith(server.url));
    await providerLogin(page, login);
    await page.waitForURL((u) => u.href.startsWith(server.url) && !u.pathname.startsWith("/api/auth/oidc/start"));
  }

  const sessionOf = async (page: Page) => await page.evaluate(async () => (await fetch("/api/auth/session")).json() as Promise<Session>);

  async function freshPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    return { context, page: await context.newPage() };
  }

  test("the sign-in page offers the provider; an allowed domain gets in with the pairing cookie, groups mapped to roles", async () => {
    provider.accounts.set("alice", { email: "Alice@allowed.test", email_verified: true, name: "Alice", groups: ["eng"] });
    const { context, page } = await freshPage();
    const callbacks: string[] = [];
    page.on("request", (r) => void (r.url().includes("/api/auth/oidc/callback") && callbacks.push(r.url())));
    await page.goto(`${s.url}/pair`);
    await page.getByRole("button", { name: "Sign in with Test IdP" }).waitFor();
    await page.screenshot({ path: screenshotPath("oidc-1-sign-in-page") });
    await signIn(page, s, "alice");
    await page.waitForURL(`${s.url}/`);
    await page.locator("#who", { hasText: "Alice" }).waitFor();
    const cookie = (await context.cookies()).find((c) => c.name === "warren_session")!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Lax", path: "/" });
    expect(cookie.value).toMatch(/^wss_[A-Za-z0-9_-]{43}$/);
    issued.push(cookie.value);
    const me = await sessionOf(page);
    expect(me.user).toMatchObject({ email: "alice@allowed.test", name: "Alice" });
    expect(me.organizations!.map((o) => [o.slug, o.role])).toEqual([["default", "member"]]);
    // The same DB session as pairing: listed, revocable.
    const sessions = await page.evaluate(async () => (await (await fetch("/api/auth/sessions")).json()) as { sessions: { current: boolean; client: string }[] });
    expect(sessions.sessions).toEqual([expect.objectContaining({ current: true, client: "browser" })]);

    // Replaying the callback URL (its code and state), in this browser or another, signs no one in.
    expect(callbacks.length).toBe(1);
    const replay = await page.goto(callbacks[0]!);
    expect(replay!.status()).toBe(400);
    expect(await page.getByRole("alert").textContent()).toContain("already used, has expired, or was started in another browser");
    const other = await freshPage();
    const replayed = await other.page.goto(callbacks[0]!);
    expect(replayed!.status()).toBe(400);
    expect((await sessionOf(other.page)).authenticated).toBe(false);
    await other.page.screenshot({ path: screenshotPath("oidc-2-replayed") });
    await other.context.close();
    await context.close();
  });

  test("a wrong state is refused with a page, not a 500, and signs no one in", async () => {
    const { context, page } = await freshPage();
    await page.goto(`${s.url}/pair`);
    await page.getByRole("button", { name: "Sign in with Test IdP" }).click();
    await page.waitForURL((u) => u.href.startsWith(provider.issuer));
    // This browser started a sign-in (its cookie and our record exist); an answer comes back
    // with a state it never sent.
    const r = await page.goto(`${s.url}/api/auth/oidc/callback?code=some-code-0123456789&state=not-the-state-we-sent-0123456789abcdef`);
    expect(r!.status()).toBe(400);
    expect(await page.locator("h1").textContent()).toBe("This sign-in cannot be completed");
    expect((await sessionOf(page)).authenticated).toBe(false);
    await context.close();
  });

  test("group mapping is re-applied at every sign-in: roles change, orgs are added, and leaving a group removes the membership and its access", async () => {
    const first = await freshPage();
    await signIn(first.page, s, "alice");
    const defaultOrg = (await sessionOf(first.page)).organizations!.find((o) => o.slug === "default")!.id;
    const members = () => first.page.evaluate(async (id) => (await fetch(`/api/orgs/${id}/members`)).status, defaultOrg);
    expect(await members()).toBe(200);

    provider.accounts.set("alice", { email: "alice@allowed.test", email_verified: true, name: "Alice", groups: ["eng", "leads", "ops"] });
    const second = await freshPage();
    await signIn(second.page, s, "alice");
    const orgs = (await sessionOf(second.page)).organizations!.map((o) => [o.slug, o.role]).sort();
    expect(orgs).toEqual([["default", "admin"], ["ops", "member"]]);
    // The owner sees it too, and Alice's older session has the new role at once (same replica).
    const listed = await json<{ members: { email: string | null; role: string }[] }>(api(s, owner)("GET", `/api/orgs/${defaultOrg}/members`));
    expect(listed.members.find((m) => m.email === "alice@allowed.test")?.role).toBe("admin");
    expect((await sessionOf(first.page)).organizations!.find((o) => o.slug === "default")?.role).toBe("admin");

    // Out of every mapped group: the memberships the mapping granted go, and her sessions lose them.
    provider.accounts.set("alice", { email: "alice@allowed.test", email_verified: true, name: "Alice", groups: [] });
    const third = await freshPage();
    await signIn(third.page, s, "alice");
    expect((await sessionOf(third.page)).organizations).toEqual([]);
    expect(await members()).toBe(404);
    expect((await sessionOf(first.page)).organizations).toEqual([]);
    // The owner's own membership (not the mapping's) is untouched.
    expect((await json<Session>(api(s, owner)("GET", "/api/auth/session"))).organizations!.map((o) => o.role)).toContain("owner");
    for (const x of [first, second, third]) await x.context.close();
  });

  test("email_verified false, an uninvited email and a domain not allowed are refused in words; an invitation lets one in and is used up", async () => {
    provider.accounts.set("bob", { email: "bob@allowed.test", email_verified: false });
    provider.accounts.set("carol", { email: "carol@elsewhere.test", email_verified: true, name: "Carol" });
    provider.accounts.set("dave", { email: "dave@sub.allowed.test", email_verified: true });
    const cases: [string, string, string][] = [
      ["bob", "Your email address is not verified", "oidc-3-unverified"],
      ["carol", "You have not been invited", "oidc-4-uninvited"],
      ["dave", "You have not been invited", "oidc-5-domain"],
    ];
    for (const [login, title, shot] of cases) {
      const { context, page } = await freshPage();
      await signIn(page, s, login);
      expect(await page.locator("h1").textContent()).toBe(title);
      expect(await page.getByRole("link", { name: "Back to sign-in" }).count()).toBe(1);
      expect((await sessionOf(page)).authenticated).toBe(false);
      await page.screenshot({ path: screenshotPath(shot) });
      await context.close();
    }
    const refusals = s.logs().filter((l) => l.msg === "oidc sign-in refused").map((l) => l.reason);
    expect(refusals).toEqual(expect.arrayContaining(["email_unverified", "not_invited"]));

    // Invited by email: Carol gets in with the invited role, and the invitation is spent.
    const orgId = (await json<Session>(api(s, owner)("GET", "/api/auth/session"))).organizations!.find((o) => o.slug === "default")!.id;
    const invite = await pairingLink(s, owner, { invite: { email: "carol@elsewhere.test", organizationId: orgId, role: "admin" } });
    const { context, page } = await freshPage();
    await signIn(page, s, "carol");
    await page.waitForURL(`${s.url}/`);
    expect((await sessionOf(page)).organizations!.map((o) => [o.slug, o.role])).toEqual([["default", "admin"]]);
    expect((await pair(s, invite)).status).toBe(401);
    await context.close();
  });

  test("after the first link, the subject is the match: a second account with the same email is refused, a changed email still signs in the same user", async () => {
    provider.accounts.set("alice-again", { email: "alice@allowed.test", email_verified: true, groups: ["eng"] });
    const a = await freshPage();
    await signIn(a.page, s, "alice-again");
    expect(await a.page.locator("h1").textContent()).toBe("This email is already linked");
    await a.context.close();

    const before = (await json<{ members: { userId: string; email: string | null }[] }>(api(s, owner)("GET", `/api/orgs/${(await json<Session>(api(s, owner)("GET", "/api/auth/session"))).organizations![0]!.id}/members`))).members;
    provider.accounts.set("alice", { email: "alice.new@allowed.test", email_verified: false, name: "Alice", groups: ["eng"] });
    const b = await freshPage();
    await signIn(b.page, s, "alice");
    const me = await sessionOf(b.page);
    expect(me.user!.email).toBe("alice@allowed.test");
    expect(before.some((m) => m.userId === me.user!.id)).toBe(false); // she had left default; the mapping added her back
    expect(me.organizations!.map((o) => o.slug)).toEqual(["default"]);
    await b.context.close();
  });

  test("warren auth login --server --no-device: a link to open in a browser, a one-use code back, a CLI session", async () => {
    provider.accounts.set("frank", { email: "frank@allowed.test", email_verified: true, name: "Frank", groups: ["eng"] });
    const home = tempDir();
    const cli = Bun.spawn([process.execPath, MAIN, "auth", "login", "--server", s.url, "--device-name", "headless-box", "--no-device"], {
      cwd: ROOT,
      env: { ...process.env, WARREN_HOME: home, WARREN_TEST_DATABASE_URL: "" },
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    });
    let err = "";
    const reader = (async () => {
      for await (const chunk of cli.stderr as unknown as AsyncIterable<Uint8Array>) err += new TextDecoder().decode(chunk);
    })();
    await waitUntil(() => /\/api\/auth\/oidc\/start\?client=cli/.test(err), 20_000, "the CLI's link");
    const link = /(http:\/\/\S+\/api\/auth\/oidc\/start\?client=cli)/.exec(err)![1]!;
    expect(link).toBe(`${s.url}/api/auth/oidc/start?client=cli`);
    const { context, page } = await freshPage();
    await page.goto(link);
    await providerLogin(page, "frank");
    await page.locator("#code").waitFor();
    await page.screenshot({ path: screenshotPath("oidc-6-cli-code") });
    const code = (await page.locator("#code").textContent())!;
    shown.push(code);
    expect((await context.cookies()).find((c) => c.name === "warren_session")).toBeUndefined();
    cli.stdin.write(code + "\n");
    await cli.stdin.end();
    expect(await cli.exited).toBe(0);
    await reader;
    const out = await new Response(cli.stdout).text();
    expect(out).toContain(`signed in to ${s.url} as Frank <frank@allowed.test>`);
    // One use: the code does not sign in a second time.
    expect((await pair(s, code)).status).toBe(401);
    await context.close();
  });

  test("warren auth login --server with the device flow: the CLI prints the provider's page and a code, the person enters it in a browser, the CLI ends signed in; nothing secret in the log", async () => {
    provider.accounts.set("heidi", { email: "heidi@allowed.test", email_verified: true, name: "Heidi", groups: ["eng"] });
    expect(((await (await fetch(`${s.url}/api/auth/oidc`)).json()) as { device: boolean }).device).toBe(true);
    const home = tempDir();
    const env = { ...process.env, WARREN_HOME: home, WARREN_TEST_DATABASE_URL: "" };
    const cli = Bun.spawn([process.execPath, MAIN, "auth", "login", "--server", s.url, "--device-name", "device-box"], { cwd: ROOT, env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    let err = "";
    const reader = (async () => {
      for await (const chunk of cli.stderr as unknown as AsyncIterable<Uint8Array>) err += new TextDecoder().decode(chunk);
    })();
    await waitUntil(() => /enter the code \S+\n/.test(err), 20_000, "the CLI's user code");
    const [, uri, userCode] = /open (\S+) in any browser and enter the code (\S+)\n/.exec(err)!;
    expect(uri).toBe(`${provider.issuer}/device`);
    expect(err).toContain(`(or open ${provider.issuer}/device?user_code=`);
    const { context, page } = await freshPage();
    await providerDeviceLogin(page, uri!, userCode!, "heidi");
    await page.screenshot({ path: screenshotPath("oidc-6b-device-approved") });
    expect(await cli.exited).toBe(0);
    await reader;
    expect(err).toContain("Waiting for you to approve");
    const out = await new Response(cli.stdout).text();
    expect(out).toContain(`signed in to ${s.url} as Heidi <heidi@allowed.test>`);
    // The saved session works, as any CLI session: warren auth check, and the API with its token.
    const check = await runWarren(["auth", "check", "--server", s.url, "--json"], { env: { WARREN_HOME: home, WARREN_TEST_DATABASE_URL: "" } });
    expect(check.code).toBe(0);
    const me = JSON.parse(check.stdout) as Session & { method: string };
    expect(me.user!.email).toBe("heidi@allowed.test");
    expect(me.organizations!.map((o) => `${o.slug}:${o.role}`)).toEqual(["default:member"]);
    const { sessionToken } = (JSON.parse(readFileSync(join(home, "logins.json"), "utf8")) as { servers: Record<string, { sessionToken: string }> }).servers[s.url]!;
    shown.push(sessionToken);
    const sessions = (await (await api(s, sessionToken)("GET", "/api/auth/sessions")).json()) as { sessions: { current: boolean; client: string; deviceName: string }[] };
    expect(sessions.sessions).toEqual([expect.objectContaining({ current: true, client: "cli", deviceName: "device-box" })]);
    await waitUntil(async () => (await query(s, `SELECT 1 FROM audit_events WHERE action = 'session.signin' AND actor_id = '${me.user!.id}'`)).length > 0, 5000, "the audit event");
    const audited = (await query(s, `SELECT action, outcome, detail FROM audit_events WHERE action = 'session.signin' AND actor_id = '${me.user!.id}'`)) as { outcome: string; detail: string }[];
    expect(audited.map((r) => [r.outcome, JSON.parse(r.detail)])).toEqual([["success", { via: "oidc", flow: "device", created: true }]]);
    expectNoCredentialIn(servers, [...provider.codes, sessionToken, CLIENT_SECRET]);
    for (const x of servers) expect(x.stderr()).not.toMatch(/device_code|id_token|eyJ/);
    await context.close();
  });

  test("device sign-in through the API: 202 while pending, a denied request is 403 access_denied, a used or unknown handle 404, a malformed one 400, an unreachable provider 503 — never a 500", async () => {
    const post = (path: string, body: unknown) => fetch(`${s.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const errorOf = async (r: Response) => ((await r.json()) as { error: { code: string; message: string } }).error;
    const started = await post("/api/auth/oidc/device", { deviceName: "denied-box" });
    expect(started.status).toBe(200);
    const grant = (await started.json()) as { userCode: string; verificationUri: string; verificationUriComplete: string; interval: number; expiresIn: number; handle: string };
    shown.push(grant.handle);
    expect(grant).toEqual({ userCode: expect.any(String), verificationUri: `${provider.issuer}/device`, verificationUriComplete: expect.stringContaining("user_code="), interval: expect.any(Number), expiresIn: expect.any(Number), handle: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) });
    const poll = () => post("/api/auth/oidc/device/poll", { handle: grant.handle });
    const pending = await poll();
    expect(pending.status).toBe(202);
    expect(await pending.json()).toEqual({ status: "pending", interval: grant.interval });
    // Asked again at once, the server does not ask the provider: still pending.
    expect((await poll()).status).toBe(202);
    const { context, page } = await freshPage();
    await providerDeviceLogin(page, grant.verificationUri, grant.userCode, "alice", { abort: true });
    let denied: Response;
    do {
      await Bun.sleep(grant.interval * 1000);
      denied = await poll();
    } while (denied.status === 202);
    expect(denied.status).toBe(403);
    expect(await errorOf(denied)).toEqual({ code: "access_denied", message: "the sign-in was refused at Test IdP" });
    const used = await poll();
    expect(used.status).toBe(404);
    expect((await errorOf(used)).code).toBe("unknown_handle");
    expect((await post("/api/auth/oidc/device/poll", { handle: "A".repeat(43) })).status).toBe(404);
    expect((await post("/api/auth/oidc/device/poll", { handle: "not a handle" })).status).toBe(400);
    expect((await post("/api/auth/oidc/device/poll", {})).status).toBe(400);
    // The provider gone: starting and polling say so in words.
    const second = (await (await post("/api/auth/oidc/device", {})).json()) as { handle: string };
    shown.push(second.handle);
    provider.backchannelDown = true;
    try {
      const start = await post("/api/auth/oidc/device", {});
      expect(start.status).toBe(503);
      expect((await errorOf(start)).message).toContain("Warren could not reach Test IdP");
      const down = await post("/api/auth/oidc/device/poll", { handle: second.handle });
      expect(down.status).toBe(503);
      expect(await errorOf(down)).toEqual({ code: "provider_unreachable", message: expect.stringContaining("Try again in a moment") });
    } finally {
      provider.backchannelDown = false;
    }
    const failures = async () => (await query(s, "SELECT reason, detail FROM audit_events WHERE action = 'session.signin_failed' AND detail LIKE '%device%'")) as { reason: string; detail: string }[];
    await waitUntil(async () => (await failures()).length >= 2, 5000, "the audit events");
    const failed = await failures();
    expect(failed.map((r) => r.reason).sort()).toEqual(["device_denied", "provider_unreachable"]);
    expect(failed.every((r) => JSON.parse(r.detail).flow === "device")).toBe(true);
    await context.close();
  });

  test("the provider unreachable when Warren exchanges the code gives a page that says so (503), not a 500", async () => {
    const { context, page } = await freshPage();
    provider.backchannelDown = true;
    try {
      await signIn(page, s, "alice");
      expect(await page.locator("h1").textContent()).toBe("Test IdP cannot be reached");
      expect(await page.getByRole("alert").textContent()).toContain("Try again in a moment, or sign in with a pairing link.");
      await page.screenshot({ path: screenshotPath("oidc-7-down-at-sign-in") });
      expect((await sessionOf(page)).authenticated).toBe(false);
    } finally {
      provider.backchannelDown = false;
    }
    expect(s.logs().some((l) => l.msg === "oidc sign-in failed" && l.status === 503)).toBe(true);
    await context.close();
  });

  test("a provider unreachable at start: the server starts, says so once in the log, pairing works, and sign-in works once the provider is back", async () => {
    provider.down = true;
    let s2: TestServer;
    try {
      s2 = await startServer({ args: [...AS_PROXY, ...oidcArgs(provider.issuer, secretFile, ["--oidc-allow-domain", "allowed.test"])] });
      servers.push(s2);
      await s2.waitFor(/\/pair#token=/);
      await waitUntil(() => s2.logs().some((l) => l.level === "warn" && /oidc provider .* cannot be reached/.test(String(l.msg))), 15_000, "the warning");
      const warning = s2.logs().find((l) => l.level === "warn" && /cannot be reached/.test(String(l.msg)))!;
      expect(warning.msg).toContain(`oidc provider ${provider.issuer} cannot be reached; "Sign in with Test IdP" is off until it answers (pairing links still work)`);
      expect((await api(s2, await ownerSession(s2))("GET", "/api/auth/session")).status).toBe(200);
      const { context, page } = await freshPage();
      await page.goto(`${s2.url}/pair`);
      const button = page.getByRole("button", { name: "Sign in with Test IdP" });
      await button.waitFor();
      expect(await button.isDisabled()).toBe(true);
      expect(await page.locator("#oidc-note").textContent()).toContain("Test IdP cannot be reached right now");
      await page.screenshot({ path: screenshotPath("oidc-8-down-at-start") });
      // Starting anyway (a bookmarked link) answers with a page, too.
      const start = await page.goto(`${s2.url}/api/auth/oidc/start`);
      expect(start!.status()).toBe(503);
      provider.down = false;
      // The page asks again (the server retries discovery when asked, and every 30 s).
      await waitUntil(async () => ((await (await fetch(`${s2.url}/api/auth/oidc`)).json()) as { ready: boolean }).ready, 15_000, "the provider to be back");
      provider.accounts.set("grace", { email: "grace@allowed.test", email_verified: true, name: "Grace" });
      await signIn(page, s2, "grace");
      await page.waitForURL(`${s2.url}/`);
      expect((await sessionOf(page)).user!.email).toBe("grace@allowed.test");
      expect(s2.logs().filter((l) => /cannot be reached/.test(String(l.msg))).length).toBe(1);
      await context.close();
    } finally {
      provider.down = false;
    }
  });

  test("ID tokens that are expired or signed with a key the provider does not publish are refused (fake provider)", async () => {
    const fake = await startFakeProvider({ sub: "mallory", email: "mallory@allowed.test", email_verified: true, name: "Mallory" });
    try {
      const s3 = await startServer({ args: [...AS_PROXY, ...oidcArgs(fake.issuer, secretFile, ["--oidc-allow-domain", "allowed.test"])] });
      servers.push(s3);
      for (const mode of ["expired", "wrong-key"] as const) {
        fake.state.mode = mode;
        const { context, page } = await freshPage();
        const r = await page.goto(`${s3.url}/api/auth/oidc/start`);
        expect(r!.status()).toBe(502);
        expect(await page.locator("h1").textContent()).toBe("The identity token was not accepted");
        expect((await sessionOf(page)).authenticated).toBe(false);
        await page.screenshot({ path: screenshotPath(`oidc-9-${mode}`) });
        await context.close();
      }
      const failures = s3.logs().filter((l) => l.msg === "oidc sign-in failed").map((l) => String(l.detail));
      expect(failures.length).toBe(2);
      // The same provider with a good token signs in: the refusals were the tokens'.
      fake.state.mode = "ok";
      const { context, page } = await freshPage();
      await page.goto(`${s3.url}/api/auth/oidc/start`);
      await page.waitForURL(`${s3.url}/`);
      await page.locator("#who", { hasText: "Mallory" }).waitFor();
      await context.close();
      shown.push(...fake.state.codes);
    } finally {
      fake.stop();
    }
  });

  test("one address may start at most 30 sign-ins a minute (each writes a row): the 31st is a 429 page, others are not affected", async () => {
    const start = (from: string) => fetch(`${s.url}/api/auth/oidc/start`, { redirect: "manual", headers: { "x-forwarded-for": from } });
    for (let i = 0; i < 30; i++) expect((await start("203.0.113.77")).status).toBe(302);
    const refused = await start("203.0.113.77");
    expect(refused.status).toBe(429);
    expect(await refused.text()).toContain("Too many sign-ins");
    expect((await start("203.0.113.78")).status).toBe(302);
  });

  test("the audit log has every sign-in through the provider, each refusal with its reason, the mapping's membership changes and the start limit's trip; never a code or state", async () => {
    const rows = async () =>
      (await query(s, "SELECT action, outcome, reason, detail, target_label, actor_id FROM audit_events ORDER BY at")) as {
        action: string; outcome: string; reason: string | null; detail: string | null; target_label: string | null; actor_id: string | null;
      }[];
    await waitUntil(async () => (await rows()).some((r) => r.action === "ratelimit.trip"), 5000, "the start limit's trip");
    const all = await rows();
    const signIns = all.filter((r) => r.action === "session.signin" && r.detail?.includes('"via":"oidc"'));
    expect(signIns.length).toBeGreaterThanOrEqual(5); // alice (several times), carol, alice-again
    expect(signIns.every((r) => r.outcome === "success" && r.actor_id?.startsWith("usr_"))).toBe(true);
    const refused = all.filter((r) => r.action === "session.signin_failed" && r.detail?.includes('"via":"oidc"')).map((r) => r.reason);
    expect(refused).toEqual(expect.arrayContaining(["unknown_state", "email_unverified", "not_invited", "linked_elsewhere"]));
    expect(all.filter((r) => r.action === "member.mapped").length).toBeGreaterThanOrEqual(3); // eng, then leads and ops, then none
    expect(all.find((r) => r.action === "ratelimit.trip")?.outcome).toBe("failure");
    const text = JSON.stringify(all);
    for (const secret of [...provider.codes, CLIENT_SECRET]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/code=|state=|eyJ/);
  });

  test("no authorization code, client secret, session or one-use code reached any log", () => {
    expect(provider.codes.length).toBeGreaterThan(5);
    expectNoCredentialIn(servers, [...provider.codes, ...shown, CLIENT_SECRET]);
    for (const x of servers) expect(x.stderr()).not.toMatch(/code=|state=|id_token|eyJ/);
  });
});

describe.if(HAVE_CHROMIUM)(`OIDC: linking an account, --oidc-required, single sign-out (${DIALECT})`, () => {
  let browser: Browser;
  let provider: TestProvider;
  let s: TestServer;
  let owner: string;
  let bob: string;
  let secretFile: string;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    browser = await launch();
    provider = await startProvider();
    secretFile = join(tempDir(), "oidc-secret");
    writeFileSync(secretFile, CLIENT_SECRET + "\n", { mode: 0o600 });
    s = await startServer({ args: [...AS_PROXY, ...oidcArgs(provider.issuer, secretFile)] });
    servers.push(s);
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    // Bob joins by an invite pairing link, as people did before the provider: no identity there yet.
    const orgId = (await json<Session>(api(s, owner)("GET", "/api/auth/session"))).organizations![0]!.id;
    bob = await sessionFrom(s, await pairingLink(s, owner, { invite: { email: "bob@corp.test", organizationId: orgId, role: "member" } }));
    provider.accounts.set("root", { email: "root@corp.test", email_verified: true, name: "Root" });
    provider.accounts.set("bob", { email: "bob@corp.test", email_verified: true, name: "Bob" });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    for (const x of servers) await x.stop();
    await provider?.close();
  });

  /** A browser signed in as `session`'s user through a device pairing link (/pair#token=). */
  async function pairedBrowser(server: TestServer, session: string, context?: BrowserContext): Promise<{ context: BrowserContext; page: Page }> {
    context ??= await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/pair#token=${await pairingLink(server, session)}`);
    await page.waitForURL(`${server.url}/`);
    return { context, page };
  }
  const identityOf = async (server: TestServer, session: string) => await json<{ provider: string; linked: boolean; email: string | null }>(api(server, session)("GET", "/api/auth/oidc/identity"));
  const cookieOf = async (context: BrowserContext) => (await context.cookies()).find((c) => c.name === "warren_session")!.value;
  const sessionOf = async (page: Page) => await page.evaluate(async () => (await fetch("/api/auth/session")).json() as Promise<Session>);

  test("linking is a POST with our Origin: a GET links nothing, a cross-origin POST is refused, a CLI session is told to use a browser", async () => {
    const { context, page } = await pairedBrowser(s, bob);
    const cookie = `warren_session=${await cookieOf(context)}`;
    const get = await page.goto(`${s.url}/api/auth/oidc/link`);
    expect(get!.status()).toBe(405);
    const foreign = await fetch(`${s.url}/api/auth/oidc/link`, { method: "POST", headers: { cookie, origin: "http://evil.test", "x-forwarded-for": "203.0.113.9" } });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe("origin_mismatch");
    const noOrigin = await fetch(`${s.url}/api/auth/oidc/link`, { method: "POST", headers: { cookie } });
    expect(noOrigin.status).toBe(403);
    const cli = await api(s, bob)("POST", "/api/auth/oidc/link");
    expect(cli.status).toBe(400);
    expect(((await cli.json()) as { error: { message: string } }).error.message).toContain('use "Link to Test IdP" on the dashboard');
    expect(await identityOf(s, bob)).toMatchObject({ provider: "Test IdP", linked: false });
    await context.close();
  });

  test("a link started by one session cannot be finished by another, even in the same browser", async () => {
    const { context, page } = await pairedBrowser(s, bob);
    await page.getByRole("button", { name: "Link your account to Test IdP" }).click();
    await page.waitForURL((u) => u.href.startsWith(provider.issuer));
    // Meanwhile this browser is signed in as the owner (a new session cookie), and the provider's
    // answer comes back to that session.
    const other = await pairedBrowser(s, owner, context);
    await other.page.close();
    await providerLogin(page, "bob");
    await page.waitForURL((u) => u.href.startsWith(s.url));
    expect(await page.locator("h1").textContent()).toBe("This link cannot be completed");
    expect(await page.getByRole("alert").textContent()).toContain("started by another sign-in than the one in this browser");
    await page.screenshot({ path: screenshotPath("oidc-10-link-other-session") });
    expect((await identityOf(s, owner)).linked).toBe(false);
    expect((await identityOf(s, bob)).linked).toBe(false);
    expect(s.logs().some((l) => l.msg === "oidc link refused" && l.reason === "other_session")).toBe(true);
    await context.close();
  });

  test("the owner links their pairing-created account from the dashboard, and then signs in with the provider", async () => {
    const { context, page } = await pairedBrowser(s, owner);
    const link = page.getByRole("button", { name: "Link your account to Test IdP" });
    await link.waitFor();
    expect(await page.locator("#identity").textContent()).toContain("Not linked to Test IdP");
    await page.screenshot({ path: screenshotPath("oidc-11-not-linked") });
    await link.click();
    await page.waitForURL((u) => u.href.startsWith(provider.issuer));
    await providerLogin(page, "root");
    await page.waitForURL(`${s.url}/`);
    await page.locator("#identity .badge", { hasText: "Linked to Test IdP" }).waitFor();
    expect(await page.locator("#identity").textContent()).toContain("as root@corp.test");
    await page.screenshot({ path: screenshotPath("oidc-12-linked") });
    const me = await sessionOf(page);
    // The owner had no email: the provider's verified one fills it in.
    expect(me.user).toMatchObject({ email: "root@corp.test", name: "Owner" });
    expect((await api(s, owner)("POST", "/api/auth/oidc/link")).status).toBe(400);
    const again = await page.evaluate(async () => (await fetch("/api/auth/oidc/link", { method: "POST" })).status);
    expect(again).toBe(409);
    await context.close();

    // Another browser, no pairing: "Sign in with Test IdP" as root is the owner.
    const fresh = await browser.newContext();
    const p = await fresh.newPage();
    await p.goto(`${s.url}/pair`);
    await p.getByRole("button", { name: "Sign in with Test IdP" }).click();
    await p.waitForURL((u) => u.href.startsWith(provider.issuer));
    await providerLogin(p, "root");
    await p.waitForURL(`${s.url}/`);
    const signedIn = await sessionOf(p);
    expect(signedIn.user!.id).toBe(me.user!.id);
    expect(signedIn.organizations!.map((o) => o.role)).toEqual(["owner"]);
    await fresh.close();
  });

  test("a provider account already linked to someone else is refused with a page, and nothing changes", async () => {
    const { context, page } = await pairedBrowser(s, bob);
    await page.getByRole("button", { name: "Link your account to Test IdP" }).click();
    await page.waitForURL((u) => u.href.startsWith(provider.issuer));
    await providerLogin(page, "root");
    await page.waitForURL((u) => u.href.startsWith(s.url));
    expect(await page.locator("h1").textContent()).toBe("That account is already linked");
    expect(await page.getByRole("alert").textContent()).toContain("belongs to another Warren user");
    await page.screenshot({ path: screenshotPath("oidc-13-link-taken") });
    expect((await identityOf(s, bob)).linked).toBe(false);
    expect(s.logs().some((l) => l.msg === "oidc link refused" && l.reason === "subject_taken")).toBe(true);
    expect(s.logs().some((l) => l.level === "error")).toBe(false);
    // Every link is in the audit log: the one another session tried to finish, the owner's, this one.
    await waitUntil(async () => (await query(s, "SELECT 1 FROM audit_events WHERE reason = 'subject_taken'")).length === 1, 5000, "the refused link's event");
    const links = await query(s, "SELECT outcome, reason FROM audit_events WHERE action = 'session.link' ORDER BY at");
    expect(links).toEqual([{ outcome: "failure", reason: "other_session" }, { outcome: "success", reason: null }, { outcome: "failure", reason: "subject_taken" }]);
    await context.close();
  });

  test("signing out of a session from the provider signs out there too (end_session_endpoint), and comes back to /pair", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const visited: string[] = [];
    page.on("request", (r) => void (r.isNavigationRequest() && visited.push(r.url())));
    await page.goto(`${s.url}/pair`);
    await page.getByRole("button", { name: "Sign in with Test IdP" }).click();
    await page.waitForURL((u) => u.href.startsWith(provider.issuer));
    await providerLogin(page, "root");
    await page.waitForURL(`${s.url}/`);
    const token = await cookieOf(context);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL((u) => u.href.startsWith(provider.issuer));
    const end = new URL(visited.find((u) => u.startsWith(`${provider.issuer}/session/end`))!);
    expect(Object.fromEntries(end.searchParams)).toEqual({ client_id: CLIENT_ID, post_logout_redirect_uri: `${s.url}/pair` });
    await page.screenshot({ path: screenshotPath("oidc-14-end-session") });
    await page.locator('button[name="logout"][value="yes"]').click();
    await page.waitForURL(`${s.url}/pair`);
    expect((await sessionOf(page)).authenticated).toBe(false);
    expect((await api(s, token)("GET", "/api/auth/session")).status).toBe(401);
    // Signed out at the provider too: it asks who you are again.
    await page.getByRole("button", { name: "Sign in with Test IdP" }).click();
    await page.waitForURL((u) => u.href.startsWith(provider.issuer));
    await page.locator('input[name="login"]').waitFor();
    await context.close();
    // A session from a pairing just ends (no provider to leave).
    const paired = await pairingLink(s, owner);
    const session = await sessionFrom(s, paired);
    expect((await api(s, session)("POST", "/api/auth/sign-out")).status).toBe(204);
  });

  test("--oidc-required: no new people by pairing link (email invitations instead); devices of signed-in users and the owner's break-glass still pair", async () => {
    // An invitation link made before the server required the provider…
    const dataDir = tempDir();
    const first = await startServer({ dataDir, args: [...AS_PROXY, ...oidcArgs(provider.issuer, secretFile)] });
    servers.push(first);
    await first.waitFor(/\/pair#token=/);
    const firstOwner = await ownerSession(first);
    const orgId = (await json<Session>(api(first, firstOwner)("GET", "/api/auth/session"))).organizations![0]!.id;
    const oldInvite = await pairingLink(first, firstOwner, { invite: { email: "erin@corp.test", organizationId: orgId, role: "admin" } });
    await first.stop();
    const r = await startServer({ dataDir, databaseUrl: first.databaseUrl ?? null, args: [...AS_PROXY, ...oidcArgs(provider.issuer, secretFile, ["--oidc-required"])] });
    servers.push(r);
    expect(await json(fetch(`${r.url}/api/auth/oidc`))).toMatchObject({ enabled: true, required: true });

    // …is refused as a link (and left unused), and works as an invitation for that email.
    const used = await pair(r, oldInvite);
    expect(used.status).toBe(403);
    expect(await json(used)).toMatchObject({ error: { code: "oidc_required", message: `this server lets new people in only with Test IdP: sign in with Test IdP as the invited email address at ${r.url}/pair` } });
    const refused = await api(r, firstOwner)("POST", "/api/auth/pairing-links", { invite: { email: "finn@corp.test", organizationId: orgId, role: "member" } });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: "oidc_required", message: expect.stringContaining("invite them by email instead") });
    const invited = await api(r, firstOwner)("POST", `/api/orgs/${orgId}/invitations`, { email: "Finn@corp.test", role: "member" });
    expect(invited.status).toBe(201);
    expect(await invited.json()).toMatchObject({ email: "finn@corp.test", role: "member", organizationId: orgId, signInUrl: `${r.url}/pair`, provider: "Test IdP" });
    expect(JSON.stringify(await (await api(r, firstOwner)("POST", `/api/orgs/${orgId}/invitations`, { email: "x@corp.test", role: "member" })).json())).not.toMatch(/wpt_|token/);
    provider.accounts.set("erin", { email: "erin@corp.test", email_verified: true, name: "Erin" });
    provider.accounts.set("finn", { email: "finn@corp.test", email_verified: true, name: "Finn" });
    provider.accounts.set("gus", { email: "gus@corp.test", email_verified: true, name: "Gus" });
    for (const [login, role] of [["erin", "admin"], ["finn", "member"], ["gus", null]] as const) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${r.url}/pair`);
      await page.getByRole("button", { name: "Sign in with Test IdP" }).click();
      await page.waitForURL((u) => u.href.startsWith(provider.issuer));
      await providerLogin(page, login);
      await page.waitForURL((u) => u.href.startsWith(r.url));
      if (role) expect((await sessionOf(page)).organizations!.map((o) => o.role)).toEqual([role]);
      else expect(await page.locator("h1").textContent()).toBe("You have not been invited");
      if (login === "erin") {
        // An admin's dashboard invites by email here.
        await page.getByRole("button", { name: "Invite by email" }).waitFor();
        await page.screenshot({ path: screenshotPath("oidc-15-invite-by-email") });
      }
      await context.close();
    }

    // A signed-in user's own devices, by link (browser and CLI), still pair.
    expect((await pair(r, await pairingLink(r, firstOwner))).status).toBe(200);
    const { context } = await pairedBrowser(r, firstOwner);
    await context.close();
    // The owner's break-glass: `warren pair` on the server's own data dir or database.
    const out = await runWarren(["pair", "--data-dir", dataDir, ...(r.databaseUrl ? ["--database-url", r.databaseUrl] : []), "--server", r.url]);
    expect(out.code).toBe(0);
    const token = /#token=([A-Za-z0-9_-]+)/.exec(out.stdout)![1]!;
    issued.push(token);
    const me = await json<Session>(api(r, await sessionFrom(r, token))("GET", "/api/auth/session"));
    expect(me.organizations!.map((o) => o.role)).toEqual(["owner"]);
  });

  test("no authorization code, client secret or session reached any log", () => {
    expectNoCredentialIn(servers, [...provider.codes, CLIENT_SECRET]);
    for (const x of servers) expect(x.stderr()).not.toMatch(/code=|state=|id_token|eyJ/);
  });
});
