// Apps on their own origins (issue #13, SPEC §4): a real server, a real host agent exposing a
// real origin server, and requests to `<port>--<host>--<org>.localhost:<port>` the way a browser
// makes them (Bun resolves *.localhost to loopback, as browsers do). The app origin is the app's
// alone: one-use launch codes, an app cookie that is no credential anywhere else and dies with
// its session or membership, cookies of ours neither seen nor settable by the app.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, AS_PROXY, expectNoCredentialIn, issued, json, ownerSession, pairingLink, printedPairingToken, sessionFrom } from "./auth-helpers";
import { firstReply } from "./relay-helpers";
import { cleanup, DIALECT, PG_ADMIN_URL, spawnWarren, startServer, tempDir, waitUntil, type Proc, type TestServer } from "./harness";

afterAll(cleanup);

type HostEntry = { id: string; name: string; apps: { port: number; url: string | null }[] };

/** The app behind the port: says what it saw, sets cookies (some hostile), echoes on /ws. */
function originApp() {
  const seen: { path: string; cookie: string | null; headers: Record<string, string> }[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      const u = new URL(req.url);
      if (u.pathname === "/ws") {
        seen.push({ path: u.pathname + u.search, cookie: req.headers.get("cookie"), headers: {} });
        return srv.upgrade(req, { data: undefined }) ? undefined : new Response("no", { status: 400 });
      }
      seen.push({ path: u.pathname + u.search, cookie: req.headers.get("cookie"), headers: Object.fromEntries(req.headers as unknown as Iterable<[string, string]>) });
      const headers = new Headers({ "content-type": "text/html" });
      headers.append("set-cookie", "app_pref=dark; Path=/");
      headers.append("set-cookie", "shared=1; Domain=localhost; Path=/");
      headers.append("set-cookie", "warren_session=fixated; Path=/");
      headers.append("set-cookie", "warren_app=forged; Path=/");
      return new Response(`<a href="/assets/app.js">app</a> ${u.pathname}`, { headers });
    },
    websocket: { message: (ws, m) => void ws.send(`echo ${m}`) },
  });
  return { server, seen };
}

/** A browser session: its cookie header and its id. */
async function browserSession(s: TestServer, token: string): Promise<string> {
  const r = await fetch(`${s.url}/api/auth/pair`, { method: "POST", headers: { "content-type": "application/json", origin: s.url }, body: JSON.stringify({ token, client: "browser" }) });
  expect(r.status).toBe(200);
  const cookie = r.headers.get("set-cookie")!.split(";")[0]!;
  issued.push(cookie.split("=")[1]!);
  return cookie;
}

/** What a browser does with a chain of redirects: follows them, keeping cookies per origin. */
async function open(url: string, jar: Map<string, string[]>, init: RequestInit = {}): Promise<{ response: Response; hops: string[] }> {
  const hops: string[] = [];
  let at = url;
  for (let i = 0; i < 10; i++) {
    const origin = new URL(at).origin;
    const cookie = (jar.get(origin) ?? []).join("; ");
    const response = await fetch(at, { ...init, redirect: "manual", headers: { "sec-fetch-mode": "navigate", ...(cookie ? { cookie } : {}), ...(init.headers as Record<string, string>) } });
    for (const c of response.headers.getSetCookie()) {
      const pair = c.split(";")[0]!;
      const name = pair.split("=")[0]!;
      jar.set(origin, [...(jar.get(origin) ?? []).filter((x) => !x.startsWith(`${name}=`)), pair]);
    }
    hops.push(`${response.status} ${at}`);
    if (response.status !== 302 && response.status !== 303) return { response, hops };
    at = new URL(response.headers.get("location")!, at).toString();
  }
  throw new Error(`too many redirects: ${hops.join(" → ")}`);
}

describe(`apps on their own origins (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let orgId = "";
  let agent: Proc;
  let host: HostEntry;
  let appUrl = "";
  const app = originApp();

  beforeAll(async () => {
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    orgId = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    const key = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "box", organizationId: orgId }))).key;
    issued.push(key);
    const home = tempDir("warren-host-");
    agent = spawnWarren(["host", "start", "--server", s.url, "--name", "devbox", "--expose", String(app.server.port)], { env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: key } });
    await agent.waitFor(/connected: devbox/);
    host = (await json<{ hosts: HostEntry[] }>(api(s, owner)("GET", "/api/hosts"))).hosts.find((h) => h.name === "devbox")!;
    appUrl = host.apps[0]!.url!;
  });
  afterAll(async () => {
    agent.proc.kill("SIGTERM");
    await agent.exited;
    await s.stop();
    app.server.stop(true);
  });

  test("the dashboard's host list names each exposed port's own origin: <port>--<host>--<org>.localhost", () => {
    const port = new URL(s.url).port;
    expect(host.apps).toEqual([{ port: app.server.port!, url: `http://${app.server.port}--devbox--default.localhost:${port}/` }]);
  });

  test("a browser opening the link is signed in to the app by redirects; the app sees its own path and none of ours", async () => {
    const jar = new Map<string, string[]>();
    jar.set(s.url, [await browserSession(s, await pairingLink(s, owner))]);
    const { response, hops } = await open(`${appUrl}deep/page?q=1`, jar);
    expect(response.status).toBe(200);
    expect(hops.map((h) => h.split(" ")[0])).toEqual(["302", "302", "302", "200"]);
    expect(hops[1]).toContain(`${s.url}/apps/launch?`);
    expect(hops[2]).toContain("warren_app_code=");
    expect(await response.text()).toContain("/deep/page");
    const last = app.seen.at(-1)!;
    expect(last.path).toBe("/deep/page?q=1"); // no prefix, no code
    expect(last.cookie).toBeNull(); // the app cookie stayed with Warren
    expect(Object.keys(last.headers).filter((h) => h === "authorization" || h.startsWith("x-warren"))).toEqual([]);
    // Absolute links inside the app just work: the origin is the app's.
    expect((await open(new URL("/assets/app.js", appUrl).toString(), jar)).response.status).toBe(200);
    expect(app.seen.at(-1)!.path).toBe("/assets/app.js");
    // The app's cookies come back host-only; ours never.
    const set = response.headers.getSetCookie();
    expect(set).toContain("app_pref=dark; Path=/");
    expect(set).toContain("shared=1; Path=/");
    expect(set.some((c) => c.startsWith("warren_session=") || c.startsWith("warren_app=forged"))).toBe(false);
    const appCookie = jar.get(new URL(appUrl).origin)!.find((c) => c.startsWith("warren_app="))!;
    expect(appCookie).toMatch(/^warren_app=eyJ/);
    // Its own cookies reach the app; ours does not.
    await open(appUrl, jar);
    expect(app.seen.at(-1)!.cookie).toBe("app_pref=dark; shared=1");
  });

  test("the app cookie opens that one app and nothing else; a launch code works once, on its own origin", async () => {
    const jar = new Map<string, string[]>();
    jar.set(s.url, [await browserSession(s, await pairingLink(s, owner))]);
    await open(appUrl, jar);
    const appCookie = jar.get(new URL(appUrl).origin)!.find((c) => c.startsWith("warren_app="))!;
    const token = appCookie.split("=")[1]!;
    issued.push(token);
    // Not a credential on the dashboard's origin, in any form.
    for (const headers of [{ authorization: `Bearer ${token}` }, { cookie: `warren_session=${token}` }, { cookie: appCookie }, { "x-api-key": token }] as Record<string, string>[]) {
      const me = await fetch(`${s.url}/api/api-keys`, { headers });
      expect(me.status).toBe(401);
    }
    // Another app (another port) of the same host refuses it: a script's fetch gets 401.
    const other = appUrl.replace(/^http:\/\/\d+--/, "http://1--");
    expect((await fetch(other, { headers: { cookie: appCookie } })).status).toBe(401);
    // The dashboard's session is no credential on an app origin either.
    expect((await fetch(appUrl, { headers: { cookie: jar.get(s.url)![0]!, authorization: `Bearer ${owner}` } })).status).toBe(401);
    // Launch codes: once, and only where they were minted for.
    const launch = await fetch(`${s.url}/apps/launch?${new URLSearchParams({ app: new URL(appUrl).hostname.split(".")[0]!, path: "/x" })}`, { headers: { cookie: jar.get(s.url)![0]! }, redirect: "manual" });
    expect(launch.status).toBe(302);
    const coded = new URL(launch.headers.get("location")!);
    const code = coded.searchParams.get("warren_app_code")!;
    issued.push(code);
    const elsewhere = await fetch(`${other}?warren_app_code=${code}`, { redirect: "manual" });
    expect(elsewhere.status).toBe(401);
    const ok = await fetch(coded, { redirect: "manual" });
    expect(ok.status).toBe(302);
    expect(ok.headers.get("location")).toBe("/x");
    const cookie = ok.headers.get("set-cookie")!;
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Lax");
    expect(cookie.toLowerCase()).not.toContain("domain=");
    expect((await fetch(coded, { redirect: "manual" })).status).toBe(401);
  });

  test("signing out, or leaving the org, ends the app cookie at once", async () => {
    const carolLink = await pairingLink(s, owner, { invite: { email: "carol@example.com", organizationId: orgId, role: "member" } });
    const carolCookie = await browserSession(s, carolLink);
    const jar = new Map([[s.url, [carolCookie]]]);
    expect((await open(appUrl, jar)).response.status).toBe(200);
    const appCookie = jar.get(new URL(appUrl).origin)!.find((c) => c.startsWith("warren_app="))!;
    issued.push(appCookie.split("=")[1]!);
    const asScript = () => fetch(appUrl, { headers: { cookie: appCookie } });
    expect((await asScript()).status).toBe(200);
    const carolId = (await json<{ user: { id: string } }>(fetch(`${s.url}/api/auth/session`, { headers: { cookie: carolCookie } }))).user.id;
    expect((await api(s, owner)("DELETE", `/api/orgs/${orgId}/members/${carolId}`)).status).toBe(204);
    expect((await asScript()).status).toBe(403);
    expect((await api(s, owner)("POST", `/api/orgs/${orgId}/members`, { userId: carolId, role: "member" })).status).toBe(201);
    expect((await asScript()).status).toBe(200);
    expect((await fetch(`${s.url}/api/auth/sign-out`, { method: "POST", headers: { cookie: carolCookie, origin: s.url } })).status).toBe(204);
    expect((await asScript()).status).toBe(401);
    // A page load goes round the dashboard again, which asks her to sign in and come back.
    const { hops } = await open(appUrl, new Map([[new URL(appUrl).origin, [appCookie]]]));
    expect(hops.at(-1)).toContain("/pair?next=%2Fapps%2Flaunch");
  });

  test("WebSockets to the app work on its origin with the app cookie, and not without", async () => {
    const jar = new Map<string, string[]>();
    jar.set(s.url, [await browserSession(s, await pairingLink(s, owner))]);
    await open(appUrl, jar);
    const appCookie = jar.get(new URL(appUrl).origin)!.find((c) => c.startsWith("warren_app="))!;
    expect(await firstReply(`${appUrl}ws`, "hi", { cookie: appCookie })).toBe("echo hi");
    const refused = await fetch(`${appUrl}ws`, { headers: { connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" } });
    expect(refused.status).toBe(401);
  });

  test("Warren's own routes do not exist on an app origin: every path is the app's", async () => {
    const jar = new Map<string, string[]>();
    jar.set(s.url, [await browserSession(s, await pairingLink(s, owner))]);
    await open(appUrl, jar);
    for (const path of ["/api/auth/session", "/api/api-keys", "/pair", "/healthz", "/v1/stream/x"]) {
      const r = await open(new URL(path, appUrl).toString(), jar);
      expect(r.response.status).toBe(200);
      expect(app.seen.at(-1)!.path).toBe(path);
    }
  });

  test("no launch code, app cookie or session of these tests reached the server's output", () => expectNoCredentialIn([s]));

  test("by path on the dashboard's origin: refused to a browser's cookie, sandboxed and cookieless for a header credential", async () => {
    const cookie = await browserSession(s, await pairingLink(s, owner));
    const path = `${s.url}/api/hosts/${host.id}/ports/${app.server.port}/page`;
    const browser = await fetch(path, { headers: { cookie } });
    expect(browser.status).toBe(403);
    expect(((await browser.json()) as { error: { code: string } }).error.code).toBe("path_apps_disabled");
    const program = await fetch(path, { headers: { authorization: `Bearer ${owner}` } });
    expect(program.status).toBe(200);
    expect(program.headers.get("content-security-policy")).toBe("sandbox");
    expect(program.headers.getSetCookie()).toEqual([]);
  });
});

describe(`opting in to apps by path (${DIALECT})`, () => {
  test("--path-apps serves browsers too, warned on start, still sandboxed and cookieless", async () => {
    const s = await startServer({ args: [...AS_PROXY, "--path-apps"] });
    await s.waitFor(/\/pair#token=/);
    expect(s.stderr()).toContain("--path-apps");
    const owner = await sessionFrom(s, printedPairingToken(s));
    const org = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    const key = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "box", organizationId: org }))).key;
    issued.push(key);
    const app = originApp();
    const home = tempDir("warren-host-");
    const agent = spawnWarren(["host", "start", "--server", s.url, "--name", "pathy", "--expose", String(app.server.port)], { env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: key } });
    await agent.waitFor(/connected: pathy/);
    const cookie = await browserSession(s, await pairingLink(s, owner));
    const r = await fetch(`${s.url}/api/hosts/pathy/ports/${app.server.port}/`, { headers: { cookie } });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-security-policy")).toBe("sandbox");
    expect(r.headers.getSetCookie()).toEqual([]);
    // A browser's WebSocket by path carries a one-use ticket: spent by Warren, never passed on.
    const { ticket } = await json<{ ticket: string }>(fetch(`${s.url}/api/ws-ticket`, { method: "POST", headers: { cookie, origin: s.url } }));
    issued.push(ticket);
    expect(await firstReply(`${s.url}/api/hosts/pathy/ports/${app.server.port}/ws?x=1&ticket=${ticket}`, "by path")).toBe("echo by path");
    expect(app.seen.at(-1)!.path).toBe("/ws?x=1");
    agent.proc.kill("SIGTERM");
    await agent.exited;
    app.server.stop(true);
    await s.stop();
  });
});

describe.if(!!PG_ADMIN_URL)("apps across replicas", () => {
  test("an app whose host is connected to replica A opens through replica B, HTTP and WebSocket", async () => {
    const a = await startServer({ args: AS_PROXY });
    const b = await startServer({ args: AS_PROXY, databaseUrl: a.databaseUrl });
    await a.waitFor(/\/pair#token=/);
    const owner = await ownerSession(a);
    const org = (await json<{ activeOrganizationId: string }>(api(a, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    const key = (await json<{ key: string }>(api(a, owner)("POST", "/api/api-keys", { name: "box", organizationId: org }))).key;
    issued.push(key);
    const app = originApp();
    const home = tempDir("warren-host-");
    const agent = spawnWarren(["host", "start", "--server", a.url, "--name", "shared", "--expose", String(app.server.port)], { env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: key } });
    await agent.waitFor(/connected: shared/);
    // The same app through B: B's own origin for it, B's dashboard, B's cookie.
    let url = "";
    await waitUntil(async () => {
      const hosts = (await json<{ hosts: (HostEntry & { online: boolean })[] }>(api(b, owner)("GET", "/api/hosts"))).hosts;
      url = hosts.find((h) => h.name === "shared" && h.online)?.apps[0]?.url ?? "";
      return !!url;
    }, 10_000, "B to see the host");
    const jar = new Map([[b.url, [await browserSession(b, await pairingLink(b, owner))]]]);
    const { response } = await open(`${url}via-b`, jar);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("/via-b");
    const appCookie = jar.get(new URL(url).origin)!.find((c) => c.startsWith("warren_app="))!;
    issued.push(appCookie.split("=")[1]!);
    expect(await firstReply(`${url}ws`, "across", { cookie: appCookie })).toBe("echo across");
    agent.proc.kill("SIGTERM");
    await agent.exited;
    app.server.stop(true);
    await b.stop();
    await a.stop();
  }, 60_000);
});
