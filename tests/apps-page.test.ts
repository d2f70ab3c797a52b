// A hostile app in a real browser (issue #13): a member of one organization exposes a port whose
// page attacks whoever opens it — here the owner, who is in two organizations and whose server
// runs terminals as itself. Opened from the dashboard's own link, in headless Chromium, the page
// tries to read the dashboard, mint an API key, open a terminal, take a WebSocket ticket, frame
// the dashboard and plant a session cookie. Every attempt must fail, and the server must show it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { api, AS_PROXY, issued, json, pairingLink, printedPairingToken, sessionFrom } from "./auth-helpers";
import { HAVE_CHROMIUM, launch, screenshotPath } from "./browser";
import { cleanup, DIALECT, spawnWarren, startServer, tempDir, type Proc, type TestServer } from "./harness";

afterAll(cleanup);

/** What the hostile page runs: every attempt, its outcome written to window.results. */
const attack = (main: string) => `
const main = ${JSON.stringify(main)};
const results = {};
const attempt = async (name, f) => { try { results[name] = String(await f()); } catch (e) { results[name] = "blocked: " + (e && e.name); } };
(async () => {
  await attempt("read keys", async () => (await fetch(main + "/api/api-keys", { credentials: "include" })).text());
  await attempt("read session", async () => (await fetch(main + "/api/auth/session", { credentials: "include" })).text());
  await attempt("create key (json)", async () => (await fetch(main + "/api/api-keys", { method: "POST", credentials: "include", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "stolen-json", organizationId: "any" }) })).status);
  await attempt("create key (simple)", async () => (await fetch(main + "/api/api-keys", { method: "POST", credentials: "include", mode: "no-cors", headers: { "content-type": "text/plain" }, body: JSON.stringify({ name: "stolen-simple", organizationId: "any" }) })).type);
  await attempt("create terminal", async () => (await fetch(main + "/api/hosts/local/terminals", { method: "POST", credentials: "include", mode: "no-cors", headers: { "content-type": "text/plain" }, body: JSON.stringify({ cmd: ["sh", "-c", "touch /tmp/pwned"] }) })).type);
  await attempt("ws ticket", async () => (await fetch(main + "/api/ws-ticket", { method: "POST", credentials: "include" })).text());
  await attempt("websocket", () => new Promise((resolve, reject) => {
    const ws = new WebSocket(main.replace(/^http/, "ws") + "/api/hosts/local/terminals/any/attach");
    ws.onopen = () => resolve("open");
    ws.onerror = () => reject(Object.assign(new Error("ws"), { name: "WebSocketError" }));
  }));
  await attempt("frame the dashboard", () => new Promise((resolve, reject) => {
    const f = document.createElement("iframe");
    f.src = main + "/";
    f.onload = () => { try { resolve(f.contentDocument ? f.contentDocument.title : "no document"); } catch (e) { reject(e); } };
    document.body.append(f);
    setTimeout(() => resolve("no load"), 3000);
  }));
  await attempt("read own cookies", async () => document.cookie || "(none)");
  document.cookie = "warren_session=wss_planted; domain=localhost; path=/";
  document.cookie = "warren_session=wss_planted; path=/";
  document.title = "done";
  window.results = results;
})();
`;

describe.if(HAVE_CHROMIUM)(`a hostile app page in Chromium (${DIALECT})`, () => {
  let browser: Browser;
  let s: TestServer;
  let owner = "";
  let agent: Proc;
  let victim: BrowserContext;
  let page: Page;
  let appUrl = "";
  let hostId = "";
  const app = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () => new Response(`<!doctype html><title>hostile</title><body><script>${attack(s.url)}</script></body>`, { headers: { "content-type": "text/html" } }),
  });

  beforeAll(async () => {
    browser = await launch();
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    const ownerToken = printedPairingToken(s);
    // Mallory: a member of the owner's first org only, with a host of her own.
    const ownerCli = await sessionFrom(s, await (async () => {
      // The owner signs in in the browser with the printed link; the CLI gets a device link.
      victim = await browser.newContext();
      page = await victim.newPage();
      await page.goto(`${s.url}/pair#token=${ownerToken}`);
      await page.waitForURL(`${s.url}/`);
      const r = await page.evaluate(async () => (await fetch("/api/auth/pairing-links", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).json());
      return (r as { token: string }).token;
    })());
    owner = ownerCli;
    const first = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    expect((await api(s, owner)("POST", "/api/orgs", { name: "Second", slug: "second" })).status).toBe(201);
    const mallory = await sessionFrom(s, await pairingLink(s, owner, { invite: { email: "mallory@example.com", organizationId: first, role: "member" } }));
    const key = (await json<{ key: string }>(api(s, mallory)("POST", "/api/api-keys", { name: "evil", organizationId: first }))).key;
    issued.push(key);
    const home = tempDir("warren-host-");
    agent = spawnWarren(["host", "start", "--server", s.url, "--name", "evil", "--expose", String(app.port)], { env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: key } });
    await agent.waitFor(/connected: evil/);
    const host = (await json<{ hosts: { id: string; name: string; apps: { url: string }[] }[] }>(api(s, owner)("GET", "/api/hosts"))).hosts.find((h) => h.name === "evil")!;
    hostId = host.id;
    appUrl = host.apps[0]!.url;
  }, 60_000);
  afterAll(async () => {
    agent?.proc.kill("SIGTERM");
    await agent?.exited;
    await browser?.close();
    await s?.stop();
    app.stop(true);
  });

  const state = async () => ({
    keys: (await json<{ keys: { name: string }[] }>(api(s, owner)("GET", "/api/api-keys"))).keys.map((k) => k.name).sort(),
    terminals: (await json<{ terminals: unknown[] }>(api(s, owner)("GET", "/api/hosts/local/terminals"))).terminals.length,
  });

  test("opened from the dashboard's own link, the page runs on its own origin and every attack fails", async () => {
    const before = await state();
    const sessionCookie = (await victim.cookies(s.url)).find((c) => c.name === "warren_session")!;
    issued.push(sessionCookie.value);
    await page.goto(`${s.url}/`);
    const link = page.locator(`a[href="${appUrl}"]`);
    await link.waitFor();
    const [tab] = await Promise.all([victim.waitForEvent("page"), link.click()]);
    await tab.waitForFunction(() => document.title === "done", undefined, { timeout: 20_000 });
    expect(new URL(tab.url()).origin).toBe(new URL(appUrl).origin);
    const results = (await tab.evaluate(() => (window as unknown as { results: Record<string, string> }).results)) as Record<string, string>;
    await tab.screenshot({ path: screenshotPath("apps-hostile-page") });
    if (process.env.WARREN_DEBUG) console.log(results);
    // Nothing of the dashboard was readable: no response body made it to the page.
    for (const name of ["read keys", "read session", "ws ticket", "create key (json)", "websocket"]) expect(`${name}: ${results[name]}`).toStartWith(`${name}: blocked`);
    // Simple requests may leave, unreadable; the server must not have acted on them.
    expect(results["frame the dashboard"]).not.toContain("Warren");
    expect(results["read own cookies"]).toBe("(none)");
    expect(await state()).toEqual(before);
    // The dashboard's session is untouched: the planted cookies landed nowhere it reads.
    const after = (await victim.cookies(s.url)).filter((c) => c.name === "warren_session");
    expect(after.map((c) => c.value)).toEqual([sessionCookie.value]);
    expect((await page.evaluate(async () => (await fetch("/api/auth/session")).json())) as { authenticated: boolean }).toMatchObject({ authenticated: true });
    await tab.close();
  }, 60_000);

  test("the same page by path on the dashboard's origin is refused to the browser", async () => {
    const before = await state();
    const res = await page.goto(`${s.url}/api/hosts/${hostId}/ports/${app.port}/`);
    expect(res!.status()).toBe(403);
    await Bun.sleep(500);
    expect(await page.title()).not.toBe("done");
    expect(await state()).toEqual(before);
  });
});
