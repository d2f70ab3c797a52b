// The /pair page in a real browser (SPEC §7): redeem from the fragment, strip it, manual entry,
// errors in words, land on / signed in.
import { get as httpGet } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser } from "playwright-core";
import { api, issued, ownerSession, pairingLink, printedPairingToken } from "./auth-helpers";
import { HAVE_CHROMIUM, launch, screenshotPath } from "./browser";
import { cleanup, DIALECT, runWarren, startServer, tempDir, type TestServer } from "./harness";

afterAll(cleanup);

describe.if(HAVE_CHROMIUM)(`/pair in Chromium (${DIALECT})`, () => {
  let browser: Browser;
  let s: TestServer;
  beforeAll(async () => {
    browser = await launch();
    s = await startServer();
    await s.waitFor(/\/pair#token=/);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  test("the printed link signs the browser in, leaves no token in the address bar, lands on /", async () => {
    const link = `${s.url}/pair#token=${printedPairingToken(s)}`;
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(link);
    await page.waitForURL(`${s.url}/`);
    await page.locator("#who", { hasText: "Owner" }).waitFor();
    await page.screenshot({ path: screenshotPath("pair-1-signed-in") });
    expect(page.url()).toBe(`${s.url}/`);
    expect(await page.evaluate(() => document.cookie)).toBe(""); // HttpOnly
    expect(await page.evaluate(() => history.length)).toBeLessThanOrEqual(2);
    const cookies = await context.cookies();
    expect(cookies.find((c) => c.name === "warren_session")).toMatchObject({ httpOnly: true, sameSite: "Lax" });
    await context.close();
  });

  test("a used link shows the server's reason in words and offers manual entry, which works", async () => {
    const owner = await ownerSession(await freshServer());
    const server = current!;
    const used = await pairingLink(server, owner);
    await api(server, null)("POST", "/api/auth/pair", { token: used, client: "cli" });
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/pair#token=${used}`);
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toBe("This pairing link is invalid, used or expired; ask for a new one.");
    expect(page.url()).toBe(`${server.url}/pair`);
    await page.screenshot({ path: screenshotPath("pair-2-used-link") });
    const fresh = await pairingLink(server, owner);
    await page.getByLabel("Pairing link or token").fill(`${server.url}/pair#token=${fresh}`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${server.url}/`);
    await page.locator("#who", { hasText: "Owner" }).waitFor();
    await page.screenshot({ path: screenshotPath("pair-3-manual-entry") });
    // Sign out → back to /pair, and / now sends you there too.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${server.url}/pair`);
    await page.goto(`${server.url}/`);
    await page.waitForURL(`${server.url}/pair`);
    await page.getByLabel("Pairing link or token").waitFor();
    await page.screenshot({ path: screenshotPath("pair-4-signed-out") });
    await context.close();
  });

  test("revoking the CLI's session from the browser's session list → the CLI's next call is 401", async () => {
    const server = await freshServer();
    const owner = await ownerSession(server);
    const home = tempDir();
    const login = await runWarren(["auth", "login", `${server.url}/pair#token=${await pairingLink(server, owner)}`, "--device-name", "build-box"], { env: { WARREN_HOME: home } });
    expect(login.code).toBe(0);
    expect((await runWarren(["auth", "check"], { env: { WARREN_HOME: home } })).stdout).toContain("user:    Owner");
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/pair#token=${await pairingLink(server, owner)}`);
    await page.waitForURL(`${server.url}/`);
    await page.getByRole("button", { name: "Revoke build-box" }).waitFor();
    await page.screenshot({ path: screenshotPath("home-1-sessions") });
    page.once("dialog", (d) => void d.accept()); // "Revoke build-box? This cannot be undone."
    await page.getByRole("button", { name: "Revoke build-box" }).click();
    await page.getByRole("button", { name: "Revoke build-box" }).waitFor({ state: "detached" });
    await page.screenshot({ path: screenshotPath("home-2-revoked") });
    const after = await runWarren(["auth", "check"], { env: { WARREN_HOME: home } });
    expect(after.code).toBe(1);
    expect(after.stderr).toContain("HTTP 401");
    await context.close();
  });

  test("pages carry a strict CSP and the security headers", async () => {
    for (const path of ["/", "/pair"]) {
      const r = await fetch(`${s.url}${path}`);
      expect(r.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(r.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(r.headers.get("x-content-type-options")).toBe("nosniff");
      expect(r.headers.get("referrer-policy")).toBe("no-referrer");
      expect(await r.text()).not.toMatch(/<script>(?!<\/script>)/);
    }
    const js = await fetch(`${s.url}/assets/pair.js`);
    const etag = js.headers.get("etag")!;
    expect((await fetch(`${s.url}/assets/pair.js`, { headers: { "if-none-match": etag } })).status).toBe(304);
  });

  test("assets go gzipped to clients that accept it (the same bytes once inflated), plain to others", async () => {
    let wire = 0;
    for (const path of ["/assets/home.js", "/assets/style.css", "/assets/pair.js"]) {
      const plain = await fetch(`${s.url}${path}`, { headers: { "accept-encoding": "identity" } });
      expect(plain.headers.get("content-encoding")).toBeNull();
      const text = await plain.text();
      // Raw, so the client does not inflate it for us: the bytes as they cross the wire.
      const raw = await new Promise<Buffer>((resolve, reject) => {
        const u = new URL(`${s.url}${path}`);
        const req = httpGet({ host: u.hostname, port: u.port, path: u.pathname, headers: { "accept-encoding": "gzip, deflate, br" } }, (res) => {
          expect(res.headers["content-encoding"]).toBe("gzip");
          expect(res.headers.vary).toBe("accept-encoding");
          const parts: Buffer[] = [];
          res.on("data", (c: Buffer) => parts.push(c));
          res.on("end", () => resolve(Buffer.concat(parts)));
        });
        req.on("error", reject);
      });
      expect(new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(raw)))).toBe(text);
      expect(raw.length).toBeLessThan(text.length / 2);
      wire += raw.length;
    }
    console.log(`dashboard and sign-in assets on the wire, gzipped: ${(wire / 1024).toFixed(1)} KiB`);
  });

  let current: TestServer | undefined;
  async function freshServer() {
    await current?.stop();
    current = await startServer();
    await current.waitFor(/\/pair#token=/);
    issued.push(printedPairingToken(current));
    return current;
  }
  afterAll(() => current?.stop());
});
