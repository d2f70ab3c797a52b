// Every page passes axe-core (no serious or critical violation) in light and dark, on a desktop
// and a phone, with real content on it: hosts online and offline, terminals running and ended,
// API keys, a second member, a shown-once secret. At phone width nothing spills sideways and the
// header stays one unclipped row. Screenshots of each land in .artifacts/screens/a11y-*.png.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContextOptions, Page } from "playwright-core";
import { api, issued, json, ownerSession, pairingLink, sessionFrom } from "./auth-helpers";
import { HAVE_CHROMIUM, launch, screenshotPath } from "./browser";
import { cleanup, DIALECT, ROOT, spawnWarren, startServer, tempDir, type TestServer } from "./harness";
import { fakeHost, hostToken } from "./relay-helpers";

afterAll(cleanup);

const AXE = readFileSync(join(ROOT, "node_modules/axe-core/axe.min.js"), "utf8");

interface Finding {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/**
 * axe-core on the page as it is now. Evaluated over the DevTools protocol, which the pages' CSP
 * (script-src 'self', or 'none' on the 404) does not apply to.
 */
async function audit(page: Page): Promise<Finding[]> {
  if (!(await page.evaluate(() => "axe" in window))) await page.evaluate(AXE);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: string[]; failureSummary?: string }[] }[] }> } }).axe;
    const { violations } = await axe.run(document, { resultTypes: ["violations"] });
    return violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => `${n.target.join(" ")}: ${n.failureSummary ?? ""}`) }));
  });
}

/** Fails on serious or critical findings; prints the lesser ones so they are seen. */
async function expectAccessible(page: Page, what: string) {
  const found = await audit(page);
  const minor = found.filter((f) => f.impact !== "serious" && f.impact !== "critical");
  if (minor.length) console.log(`axe (${what}), not failing:`, JSON.stringify(minor, null, 1));
  expect({ what, violations: found.filter((f) => f.impact === "serious" || f.impact === "critical") }).toEqual({ what, violations: [] });
}

/** Nothing wider than the viewport, and (where there is one) the header on one row, nothing in it wrapped or clipped. */
async function expectTidy(page: Page, what: string) {
  const r = await page.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    const header = document.querySelector("body > header");
    const items = header
      ? Array.from(header.children)
          .filter((e) => (e as HTMLElement).checkVisibility())
          .map((e) => {
            const b = e.getBoundingClientRect();
            // Lines its text takes up (text nodes only: a select's box is taller than a line).
            const rects: DOMRect[] = [];
            const walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
            for (let n = walk.nextNode(); n; n = walk.nextNode()) {
              if (!n.textContent?.trim() || n.parentElement?.closest("select, .sr-only")) continue;
              const range = document.createRange();
              range.selectNodeContents(n);
              rects.push(...Array.from(range.getClientRects()).filter((q) => q.width > 0 && q.height > 0));
            }
            rects.sort((a, b) => a.top - b.top);
            let lines = 0;
            let bottom = -Infinity;
            for (const q of rects) if (q.top >= bottom - 1) (lines++, (bottom = q.bottom));
            const clipped = [e, ...Array.from(e.querySelectorAll("*"))].some((x) => x.getBoundingClientRect().width > 1 && x.scrollWidth > x.clientWidth + 1 && getComputedStyle(x).overflowX !== "visible"); // (1 px: text for screen readers only)
            return { item: e.id || e.tagName.toLowerCase(), top: b.top, bottom: b.bottom, left: b.left, right: b.right, lines, clipped };
          })
      : [];
    // What sticks out past the right edge, if anything does (for the failure message).
    const wide = Array.from(document.querySelectorAll("body *"))
      .filter((x) => x.getBoundingClientRect().right > vw + 0.5)
      .slice(0, 5)
      .map((x) => `${x.tagName.toLowerCase()}${x.id ? `#${x.id}` : ""}.${x.className}`);
    return { vw, scrollWidth: document.documentElement.scrollWidth, items, wide };
  });
  expect({ what, scrollWidth: r.scrollWidth, wide: r.wide }).toEqual({ what, scrollWidth: Math.min(r.scrollWidth, r.vw), wide: [] });
  if (!r.items.length) return;
  const rowTop = Math.max(...r.items.map((i) => i.top));
  const rowBottom = Math.min(...r.items.map((i) => i.bottom));
  expect({ what, oneRow: rowTop < rowBottom }).toEqual({ what, oneRow: true });
  for (const i of r.items) expect({ what, ...i, inside: i.left >= 0 && i.right <= r.vw }).toEqual({ what, ...i, inside: true, lines: Math.min(i.lines, 1), clipped: false });
}

const SIZES = [
  { name: "desktop", viewport: { width: 1280, height: 800 } },
  { name: "phone", viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true },
] as const;
const SCHEMES = ["light", "dark"] as const;

describe.if(HAVE_CHROMIUM)(`accessibility and layout in Chromium (${DIALECT})`, () => {
  let browser: Browser;
  let s: TestServer;
  let owner = "";
  let signedIn: BrowserContextOptions["storageState"];
  let running = "";
  let agentHome = "";

  beforeAll(async () => {
    browser = await launch();
    s = await startServer();
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    const call = api(s, owner);
    const me = await json<{ activeOrganizationId: string }>(call("GET", "/api/auth/session"));
    const org = me.activeOrganizationId;
    // A second member, two keys, a remote host online with a terminal, one that went away.
    await sessionFrom(s, await pairingLink(s, owner, { invite: { email: "bea@example.com", organizationId: org, role: "member" } }));
    const { key } = await json<{ key: string }>(call("POST", "/api/api-keys", { name: "devbox", organizationId: org }));
    issued.push(key);
    issued.push((await json<{ key: string }>(call("POST", "/api/api-keys", { name: "ci", organizationId: org }))).key);
    agentHome = tempDir("warren-host-");
    const agent = spawnWarren(["host", "start", "--server", s.url, "--name", "devbox"], { env: { WARREN_HOME: agentHome, HOME: agentHome, WARREN_API_KEY: key } });
    await agent.waitFor(/connected: devbox/);
    const gone = await fakeHost(s, await hostToken(s, key, "old-laptop"), (st) => st.end());
    gone.ws.close();
    await gone.closed;
    const { hosts } = await json<{ hosts: { id: string; name: string }[] }>(call("GET", "/api/hosts"));
    const devbox = hosts.find((h) => h.name === "devbox")!.id;
    await json(call("POST", `/api/hosts/${devbox}/terminals`, { cmd: ["top"] }));
    // Local terminals: one running (the one the terminal page shows), one that ended.
    running = (await json<{ id: string }>(call("POST", "/api/hosts/local/terminals", { cmd: ["sh"] }))).id;
    const ended = (await json<{ id: string }>(call("POST", "/api/hosts/local/terminals", { cmd: ["sh", "-c", "exit 3"] }))).id;
    for (;;) {
      const { terminals } = await json<{ terminals: { id: string; exit: unknown }[] }>(call("GET", "/api/hosts/local/terminals"));
      if (terminals.find((t) => t.id === ended)?.exit) break;
      await Bun.sleep(50);
    }
    // The browser's own session.
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${s.url}/pair#token=${await pairingLink(s, owner)}`);
    await page.waitForURL(`${s.url}/`);
    signedIn = await ctx.storageState();
    await ctx.close();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  for (const scheme of SCHEMES)
    for (const { name: size, ...options } of SIZES) {
      const tag = `${size}-${scheme}`;
      const open = async (signed = true) => {
        const ctx = await browser.newContext({ ...options, colorScheme: scheme, storageState: signed ? signedIn : undefined });
        return { ctx, page: await ctx.newPage() };
      };

      test(`dashboard, ${tag}`, async () => {
        const { ctx, page } = await open();
        await page.goto(`${s.url}/`);
        await page.locator("#live", { hasText: "Live" }).waitFor();
        await page.locator(".host", { hasText: "devbox" }).getByRole("link", { name: "top" }).waitFor();
        await page.locator(".host", { hasText: "old-laptop" }).waitFor();
        await page.getByRole("button", { name: "Revoke key ci" }).waitFor();
        await page.locator("#members").getByRole("cell", { name: "bea@example.com", exact: true }).first().waitFor();
        await page.evaluate(() => document.fonts.ready);
        await page.screenshot({ path: screenshotPath(`a11y-dash-${tag}`), fullPage: true });
        await page.locator("header").screenshot({ path: screenshotPath(`a11y-dash-header-${tag}`) });
        await expectAccessible(page, `dashboard ${tag}`);
        await expectTidy(page, `dashboard ${tag}`);
        // With a secret shown once (a new key and the line to use it with).
        await page.getByLabel("Name", { exact: true }).fill(`key-${tag}`);
        await page.getByRole("button", { name: "Create key" }).click();
        await page.locator("#secret-value", { hasText: "sk_live_" }).waitFor();
        issued.push((await page.locator("#secret-value").textContent())!);
        await page.screenshot({ path: screenshotPath(`a11y-dash-secret-${tag}`) });
        await expectAccessible(page, `dashboard with a secret ${tag}`);
        await expectTidy(page, `dashboard with a secret ${tag}`);
        await page.getByRole("button", { name: "Done, hide it" }).click();
        await ctx.close();
      });

      test(`sign-in page, ${tag}`, async () => {
        const { ctx, page } = await open(false);
        await page.goto(`${s.url}/pair`);
        await page.getByLabel("Pairing link or token").waitFor();
        await page.screenshot({ path: screenshotPath(`a11y-pair-${tag}`) });
        await expectAccessible(page, `pair ${tag}`);
        await expectTidy(page, `pair ${tag}`);
        // A link that does not work: the reason, in words (a new document: the page reads the fragment once).
        await page.goto("about:blank");
        await page.goto(`${s.url}/pair#token=${"x".repeat(43)}`);
        await page.getByRole("alert").getByText(/\w/).waitFor();
        await page.screenshot({ path: screenshotPath(`a11y-pair-error-${tag}`) });
        await expectAccessible(page, `pair with an error ${tag}`);
        await expectTidy(page, `pair with an error ${tag}`);
        await ctx.close();
      });

      test(`terminal page, ${tag}`, async () => {
        const { ctx, page } = await open();
        await page.goto(`${s.url}/term/local/${running}`);
        await page.locator("#state", { hasText: "Connected" }).waitFor();
        await page.locator(".xterm-helper-textarea").focus();
        await page.keyboard.type(`echo page-${tag}\n`);
        await page.locator(".xterm-rows").getByText(`page-${tag}`).nth(1).waitFor();
        await page.screenshot({ path: screenshotPath(`a11y-term-${tag}`) });
        await expectAccessible(page, `terminal ${tag}`);
        await expectTidy(page, `terminal ${tag}`);
        await ctx.close();
      });

      test(`not-found page, ${tag}`, async () => {
        const { ctx, page } = await open(false);
        expect((await page.goto(`${s.url}/no/such/page`))!.status()).toBe(404);
        await page.screenshot({ path: screenshotPath(`a11y-404-${tag}`) });
        await expectAccessible(page, `404 ${tag}`);
        await expectTidy(page, `404 ${tag}`);
        await ctx.close();
      });
    }
});
