// The dashboard (SPEC §7) in headless Chromium: every flow a person uses, through the same API
// the CLI uses. Screenshots of each step land in .artifacts/screens/.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { issued, printedPairingToken } from "./auth-helpers";
import { HAVE_CHROMIUM, launch, screenshotPath } from "./browser";
import { cleanup, DIALECT, spawnWarren, startServer, tempDir, type TestServer } from "./harness";
import { fakeHost, hostToken } from "./relay-helpers";

afterAll(cleanup);

describe.if(HAVE_CHROMIUM)(`dashboard in Chromium (${DIALECT})`, () => {
  let browser: Browser;
  let s: TestServer;
  let owner: BrowserContext;
  let page: Page;
  let answer: "yes" | "no" = "yes";
  /** What a prompt() is answered with. */
  let typed = "";
  beforeAll(async () => {
    browser = await launch();
    s = await startServer();
    await s.waitFor(/\/pair#token=/);
    owner = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    await owner.grantPermissions(["clipboard-read", "clipboard-write"]);
    page = await owner.newPage();
    // Destructive actions ask first; these tests mean them (one test below says no).
    page.on("dialog", (d) => void (answer === "yes" ? d.accept(d.type() === "prompt" ? typed : undefined) : d.dismiss()));
    await page.goto(`${s.url}/pair#token=${printedPairingToken(s)}`);
    await page.waitForURL(`${s.url}/`);
    await page.locator("#who", { hasText: "Owner" }).waitFor();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  test("pairing lands on the dashboard; nothing secret in the URL or storage", async () => {
    await page.getByRole("heading", { name: "Hosts and terminals" }).waitFor();
    await page.screenshot({ path: screenshotPath("dash-1-signed-in"), fullPage: true });
    expect(page.url()).toBe(`${s.url}/`);
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
  });

  test("create an API key: shown once, works from outside, revoked in the page → 401", async () => {
    await page.getByLabel("Name", { exact: true }).fill("ci-from-page");
    await page.getByRole("button", { name: "Create key" }).click();
    const value = page.locator("#secret-value");
    await value.waitFor();
    const key = (await value.textContent())!;
    issued.push(key);
    expect(key).toMatch(/^sk_live_/);
    await page.getByRole("button", { name: "Copy", exact: true }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(key);
    // The next step, whole and copyable: the line that makes a machine a host with this key.
    const command = `WARREN_API_KEY=${key} warren host start --daemon --server ${s.url} --name ci-from-page`;
    expect(await page.locator("#next-value").textContent()).toBe(command);
    await page.getByRole("button", { name: "Copy command" }).click();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(command);
    await page.screenshot({ path: screenshotPath("dash-2-key-once"), fullPage: true });
    expect((await fetch(`${s.url}/api/orgs`, { headers: { "x-api-key": key } })).status).toBe(200);
    await page.getByRole("button", { name: "Done, hide it" }).click();
    expect(await page.content()).not.toContain(key);
    expect(await page.content()).not.toContain(key.slice(8));
    await page.getByRole("cell", { name: `sk_live_${key.slice(8, 16)}…` }).waitFor();
    await page.getByRole("button", { name: "Revoke key ci-from-page" }).click();
    await page.getByRole("button", { name: "Revoke key ci-from-page" }).waitFor({ state: "detached" });
    expect((await fetch(`${s.url}/api/orgs`, { headers: { "x-api-key": key } })).status).toBe(401);
  });

  test("invite a second person through a link opened in a second browser; they appear as a member", async () => {
    await page.getByLabel("Email").fill("bea@example.com");
    await page.locator("#invite-role").selectOption("member");
    await page.getByRole("button", { name: "Create invite link" }).click();
    await page.locator("#secret-value").waitFor();
    const link = (await page.locator("#secret-value").textContent())!;
    issued.push(link.split("#token=")[1]!);
    expect(link).toStartWith(`${s.url}/pair#token=`);
    await page.getByRole("button", { name: "Done, hide it" }).click();

    const bea = await browser.newContext();
    const beaPage = await bea.newPage();
    await beaPage.goto(link);
    await beaPage.waitForURL(`${s.url}/`);
    await beaPage.locator("#who", { hasText: "bea@example.com" }).waitFor();
    await beaPage.screenshot({ path: screenshotPath("dash-3-invited"), fullPage: true });
    // A member sees no invite form and no role controls.
    expect(await beaPage.locator("#invite-form").isHidden()).toBe(true);

    await page.reload();
    await page.getByRole("cell", { name: "bea@example.com", exact: true }).first().waitFor();
    await page.getByLabel("Role of bea@example.com").selectOption("admin");
    await page.getByLabel("Role of bea@example.com").waitFor();
    await page.screenshot({ path: screenshotPath("dash-4-members"), fullPage: true });
    await beaPage.reload();
    await beaPage.getByText("member (you)").or(beaPage.getByRole("cell", { name: "admin", exact: true })).first().waitFor();
    await bea.close();
  });

  test("add a device; revoke that browser's session from here → it goes to /pair by itself (live), without an action", async () => {
    await page.getByRole("button", { name: "Add a device" }).click();
    await page.locator("#secret-value").waitFor();
    const link = (await page.locator("#secret-value").textContent())!;
    issued.push(link.split("#token=")[1]!);
    expect(await page.locator("#next-value").textContent()).toBe(`warren auth login '${link}'`);
    await page.getByRole("button", { name: "Done, hide it" }).click();
    const other = await browser.newContext({ userAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0" });
    const otherPage = await other.newPage();
    await otherPage.goto(link);
    await otherPage.waitForURL(`${s.url}/`);
    await otherPage.locator("#who", { hasText: "Owner" }).waitFor();
    await page.reload();
    await page.getByRole("button", { name: "Revoke Firefox on Linux" }).click();
    await page.getByRole("button", { name: "Revoke Firefox on Linux" }).waitFor({ state: "detached" });
    await otherPage.waitForURL(`${s.url}/pair`);
    await otherPage.screenshot({ path: screenshotPath("dash-5-revoked-elsewhere") });
    await other.close();
  });

  test("open a terminal from the dashboard and run a command; kill it from the list (after saying yes)", async () => {
    const [termPage] = await Promise.all([owner.waitForEvent("page"), page.getByRole("button", { name: /^New terminal on / }).click()]);
    await termPage.getByText("Connected").waitFor();
    await termPage.locator(".xterm-helper-textarea").focus();
    await termPage.keyboard.type("echo dash-$((20+3))\n");
    await termPage.locator(".xterm-rows").getByText("dash-23").waitFor();
    await termPage.screenshot({ path: screenshotPath("dash-6-terminal") });
    await page.reload();
    // Listed by its command with a status badge; its id in monospace, copied by Copy id.
    const id = decodeURIComponent(termPage.url().split("/").pop()!);
    const item = page.locator(".terms li", { hasText: id });
    await item.locator(".badge", { hasText: /^running · 1 attached$/ }).waitFor();
    expect(await item.locator("code").textContent()).toBe(id);
    await item.getByRole("button", { name: /^Copy id of / }).click();
    await item.getByRole("button", { name: "Copied" }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(id);
    const kill = page.getByRole("button", { name: /^Kill / }).first();
    // Saying no keeps it running.
    answer = "no";
    await kill.click();
    await Bun.sleep(300);
    expect(await termPage.getByText(/Session ended/).count()).toBe(0);
    answer = "yes";
    await kill.click();
    await termPage.getByText(/Session ended/).waitFor();
    await item.locator(".badge", { hasText: /^ended · / }).waitFor();
    await termPage.close();
  });

  test("a remote host that stops, or answers garbage, shows on its own card; every other section still renders", async () => {
    const me = await page.evaluate(async () => (await fetch("/api/auth/session")).json());
    const key = await page.evaluate(async (org: string) => (await (await fetch("/api/api-keys", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "boxes", organizationId: org }) })).json()).key, me.activeOrganizationId);
    issued.push(key);
    // One real agent that then stops, and one host that answers every call with nonsense.
    const home = tempDir("warren-host-");
    const agent = spawnWarren(["host", "start", "--server", s.url, "--name", "devbox"], { env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: key } });
    await agent.waitFor(/connected: devbox/);
    agent.proc.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    const liar = await fakeHost(s, await hostToken(s, key, "liar"), (st) => {
      st.respond({ status: 200, body: { terminals: "all of them" } });
      st.end();
    });
    await page.reload();
    const devbox = page.locator(".host", { hasText: "devbox" });
    await devbox.getByText(/offline last seen/).waitFor();
    await page.locator(".host", { hasText: "liar" }).getByRole("alert").getByText("The host sent an answer Warren cannot use").waitFor();
    // The rest of the page is all there.
    await page.getByRole("button", { name: "Revoke key boxes" }).waitFor();
    await page.getByRole("cell", { name: /this browser/ }).waitFor();
    await page.locator("#members").getByRole("cell", { name: /\(you\)/ }).waitFor();
    await page.getByRole("button", { name: /^New terminal on / }).first().waitFor();
    expect(await page.locator("section .section-error").count()).toBe(0);
    await page.screenshot({ path: screenshotPath("dash-8-host-offline"), fullPage: true });
    liar.ws.close();
  });

  test("the page follows changes by itself: a host connecting and leaving, a terminal made elsewhere, a key, a member", async () => {
    await page.reload();
    await page.locator("#live", { hasText: "Live" }).waitFor();
    const me = await page.evaluate(async () => (await fetch("/api/auth/session")).json());
    const post = (path: string, body: unknown) => page.evaluate(async ([p, b]) => (await fetch(p as string, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(b) })).json(), [path, body] as const);
    // A key made by another client (here: the same user's fetch, outside the page's own code).
    const { key } = await post("/api/api-keys", { name: "live-key", organizationId: me.activeOrganizationId });
    issued.push(key);
    await page.getByRole("button", { name: "Revoke key live-key" }).waitFor();
    // A host connects: its card appears, with what it is; a terminal made from the CLI shows on it.
    const home = tempDir("warren-host-");
    const agent = spawnWarren(["host", "start", "--server", s.url, "--name", "livebox"], { env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: key } });
    await agent.waitFor(/connected: livebox/);
    const card = page.locator(".host", { hasText: "livebox" });
    await card.getByText(/^remote · \S+ · warren \d/).waitFor();
    await card.getByText(/online since just now/).waitFor();
    const made = spawnWarren(["term", "new", "--server", s.url, "--host", "livebox", "--", "sh", "-c", "echo live; sleep 300"], { env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: key } });
    expect(await made.exited).toBe(0);
    // On the open page within 2 s of the CLI returning (the bound; a notice takes milliseconds).
    await card.getByRole("link", { name: /sleep 300/ }).waitFor({ timeout: 2_000 });
    // It goes away: offline, with when it was last seen; nothing else on the page moved.
    agent.proc.kill("SIGTERM");
    await agent.exited;
    await card.getByText(/offline last seen just now/).waitFor();
    await page.getByRole("button", { name: "Revoke key live-key" }).waitFor();
    // The local host says it is this server.
    await page.locator(".host").first().getByText(/^this server · /).waitFor();
    await page.screenshot({ path: screenshotPath("dash-9-live"), fullPage: true });
  });

  test("owners rename and remove a remote host from its card (after saying yes); the local host has no such buttons", async () => {
    await page.reload();
    const card = page.locator(".host", { hasText: "livebox" });
    await card.waitFor();
    expect(await page.locator(".host").first().getByRole("button", { name: /^Remove host/ }).count()).toBe(0);
    typed = "livebox-2";
    await card.getByRole("button", { name: "Rename host livebox" }).click();
    await page.locator(".host h3", { hasText: "livebox-2" }).waitFor();
    await page.getByRole("button", { name: "Remove host livebox-2" }).click();
    await page.getByRole("button", { name: "Remove host livebox-2" }).waitFor({ state: "detached" });
    const hosts = await page.evaluate(async () => (await (await fetch("/api/hosts")).json()).hosts.map((h: { name: string }) => h.name));
    expect(hosts).not.toContain("livebox-2");
  });

  test("where the Clipboard API is refused, Copy selects the key for Ctrl-C instead of failing silently", async () => {
    const plain = await browser.newContext();
    const p = await plain.newPage();
    await page.getByRole("button", { name: "Add a device" }).click();
    await page.locator("#secret-value", { hasText: "#token=" }).waitFor();
    const link = (await page.locator("#secret-value").textContent())!;
    issued.push(link.split("#token=")[1]!);
    await page.getByRole("button", { name: "Done, hide it" }).click();
    await p.goto(link);
    await p.waitForURL(`${s.url}/`);
    await p.evaluate(() => Object.defineProperty(navigator, "clipboard", { value: undefined }));
    await p.getByLabel("Name", { exact: true }).fill("no-clipboard");
    await p.getByRole("button", { name: "Create key" }).click();
    await p.locator("#secret-value", { hasText: "sk_live_" }).waitFor();
    const key = (await p.locator("#secret-value").textContent())!;
    issued.push(key);
    await p.getByRole("button", { name: "Copy", exact: true }).click();
    await p.getByRole("button", { name: "Selected: press Ctrl-C" }).waitFor();
    expect(await p.evaluate(() => getSelection()?.toString())).toBe(key);
    await plain.close();
  });

  test("a page that does not exist is a page for a browser, JSON for a program", async () => {
    const r = await page.goto(`${s.url}/no/such/page`);
    expect(r!.status()).toBe(404);
    expect(await page.title()).toBe("Not found · Warren");
    await page.getByRole("link", { name: "Go to the dashboard" }).waitFor();
    const api = await fetch(`${s.url}/no/such/page`);
    expect(api.headers.get("content-type")).toContain("application/json");
    await page.goto(`${s.url}/`);
  });

  test("signed out, a terminal link goes through sign-in and comes back to the terminal", async () => {
    const { id } = await page.evaluate(async () => (await fetch("/api/hosts/local/terminals", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ cmd: ["sh", "-c", "echo came-back; sleep 30"] }) })).json());
    await page.getByRole("button", { name: "Add a device" }).click();
    await page.locator("#secret-value", { hasText: "#token=" }).waitFor();
    const link = (await page.locator("#secret-value").textContent())!;
    const token = link.split("#token=")[1]!;
    issued.push(token);
    await page.getByRole("button", { name: "Done, hide it" }).click();
    const fresh = await browser.newContext();
    const p = await fresh.newPage();
    await p.goto(`${s.url}/term/local/${id}`);
    await p.waitForURL(`${s.url}/pair?next=%2Fterm%2Flocal%2F${encodeURIComponent(id)}`, { waitUntil: "commit" });
    await p.getByLabel("Pairing link or token").fill(link);
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.waitForURL(`${s.url}/term/local/${id}`, { waitUntil: "commit" });
    await p.locator(".xterm-rows").getByText("came-back").waitFor();
    await fresh.close();
  });

  test("errors appear as words; sign out goes to /pair", async () => {
    // A key revoked elsewhere (another tab, the CLI) and then revoked here: the server's 404 in words.
    const made = await page.evaluate(async () => {
      const me = await (await fetch("/api/auth/session")).json();
      const r = await fetch("/api/api-keys", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ name: "gone", organizationId: me.activeOrganizationId }) });
      return r.json();
    });
    issued.push(made.key);
    await page.reload();
    await page.getByRole("button", { name: "Revoke key gone" }).waitFor();
    await page.evaluate(async (id: string) => fetch(`/api/api-keys/${id}`, { method: "DELETE" }), made.id);
    await page.getByRole("button", { name: "Revoke key gone" }).click();
    await page.getByRole("alert").getByText("No such API key").waitFor();
    await page.screenshot({ path: screenshotPath("dash-7-error"), fullPage: true });
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(`${s.url}/pair`);
    await page.goto(`${s.url}/`);
    await page.waitForURL(`${s.url}/pair`);
  });
});
