// The terminal page in headless Chromium: type a command, see its output; the ended state.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext } from "playwright-core";
import { api, json, ownerSession, pairingLink } from "./auth-helpers";
import { HAVE_CHROMIUM, launch, screenshotPath } from "./browser";
import { cleanup, DIALECT, startServer, type TestServer } from "./harness";

afterAll(cleanup);

describe.if(HAVE_CHROMIUM)(`/term in Chromium (${DIALECT})`, () => {
  let browser: Browser;
  let context: BrowserContext;
  let s: TestServer;
  let owner = "";
  beforeAll(async () => {
    browser = await launch();
    s = await startServer();
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    context = await browser.newContext({ viewport: { width: 1000, height: 600 } });
    const page = await context.newPage();
    await page.goto(`${s.url}/pair#token=${await pairingLink(s, owner)}`);
    await page.waitForURL(`${s.url}/`);
    await page.close();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await s?.stop();
  });

  const create = async (cmd?: string[]) => (await json<{ id: string }>(api(s, owner)("POST", "/api/hosts/local/terminals", cmd ? { cmd } : {}))).id;

  test("typing `echo hello-warren` shows hello-warren on the screen", async () => {
    const id = await create(["sh"]);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    await page.goto(`${s.url}/term/local/${id}`);
    await page.getByText("Connected").waitFor();
    await page.locator(".xterm-helper-textarea").focus();
    await page.keyboard.type("echo hello-$((40+2))-warren\n");
    await page.locator(".xterm-rows").getByText("hello-42-warren").waitFor();
    await page.screenshot({ path: screenshotPath("term-1-echo") });
    expect(errors).toEqual([]);
    // The page's terminal size reached the program.
    await page.keyboard.type("stty size\n");
    await page.waitForFunction(() => /\d+ \d+/.test(document.querySelector(".xterm-rows")?.textContent ?? ""));
    await page.keyboard.type("exit 4\n");
    await page.getByText("Session ended (exit code 4)").waitFor();
    await page.screenshot({ path: screenshotPath("term-2-ended") });
    await page.close();
  });

  test("a reload or a second tab shows the history exactly once", async () => {
    const id = await create(["sh"]);
    const page = await context.newPage();
    await page.goto(`${s.url}/term/local/${id}`);
    await page.getByText("Connected").waitFor();
    await page.locator(".xterm-helper-textarea").focus();
    await page.keyboard.type("echo once-$((1+1))\n");
    await page.locator(".xterm-rows").getByText("once-2").first().waitFor();
    await page.reload();
    await page.getByText("Connected").waitFor();
    await page.locator(".xterm-helper-textarea").focus();
    await page.keyboard.type("echo after-reload\n");
    await page.locator(".xterm-rows").getByText("after-reload").first().waitFor();
    const reloaded = (await page.locator(".xterm-rows").textContent()) ?? "";
    expect(reloaded.match(/once-2/g)).toHaveLength(1);
    const other = await context.newPage();
    await other.goto(`${s.url}/term/local/${id}`);
    await other.locator(".xterm-rows").getByText("after-reload").first().waitFor();
    const full = (await other.locator(".xterm-rows").textContent()) ?? "";
    expect(full.match(/once-2/g)).toHaveLength(1);
    await other.screenshot({ path: screenshotPath("term-3-history") });
    await page.close();
    await other.close();
  });

  test("a terminal that does not exist says so", async () => {
    const page = await context.newPage();
    await page.goto(`${s.url}/term/local/term_nope`);
    await page.getByText("No such terminal").waitFor();
    await page.close();
  });
});
