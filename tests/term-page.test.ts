// The terminal page in headless Chromium: type a command, see its output; the ended state.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, BrowserContext } from "playwright-core";
import { api, json, ownerSession, pairingLink } from "./auth-helpers";
import { HAVE_CHROMIUM, launch, screenshotPath } from "./browser";
import { cleanup, DIALECT, startServer, type TestServer } from "./harness";
import { inflateSync } from "node:zlib";

afterAll(cleanup);

/** Chromium's screenshots: 8-bit RGB or RGBA PNG, not interlaced. Returns the brightest channel per pixel. */
function decodePng(png: Uint8Array) {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let width = 0;
  let bpp = 0;
  const idat: Uint8Array[] = [];
  for (let at = 8; at < png.length; ) {
    const len = view.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    if (type === "IHDR") {
      width = view.getUint32(at + 8);
      expect([png[at + 16], png[at + 20]]).toEqual([8, 0]); // bit depth 8, no interlace
      bpp = png[at + 17] === 6 ? 4 : 3;
    } else if (type === "IDAT") idat.push(png.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const height = raw.length / (stride + 1);
  const px = new Uint8Array(height * stride);
  // Undo each scanline's filter (PNG spec §9): none, sub, up, average, Paeth.
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? px[y * stride + x - bpp]! : 0;
      const b = y > 0 ? px[(y - 1) * stride + x]! : 0;
      const c = x >= bpp && y > 0 ? px[(y - 1) * stride + x - bpp]! : 0;
      const p = a + b - c;
      const paeth = Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c) ? a : Math.abs(p - b) <= Math.abs(p - c) ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][filter]!;
      px[y * stride + x] = (raw[y * (stride + 1) + 1 + x]! + pred) & 255;
    }
  }
  return { lum: (x: number, y: number) => Math.max(px[y * stride + x * bpp]!, px[y * stride + x * bpp + 1]!, px[y * stride + x * bpp + 2]!) };
}

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

  // Pixels, not DOM: the renderer clips each row to its cell box, so a glyph can be in the DOM and
  // still not on screen (at 14 px an underscore fell just below the box: `snake_case` read as
  // `snake case`). Box-drawing characters come from the font too, so rows must meet with no gap.
  for (const dpr of [1, 2]) {
    test(`underscores are inside their cell and box drawing joins (deviceScaleFactor ${dpr})`, async () => {
      const id = await create(["sh", "-c", "printf '%s\\n' '___ x86_64 snake_case' '┌──┐' '│  │' '└──┘'; sleep 600"]);
      const ctx = await browser.newContext({ viewport: { width: 1000, height: 600 }, deviceScaleFactor: dpr, storageState: await context.storageState() });
      const page = await ctx.newPage();
      await page.goto(`${s.url}/term/local/${id}`);
      await page.locator(".xterm-rows").getByText("└──┘").waitFor();
      await page.evaluate(() => document.fonts.ready);
      // The first four rows' boxes (CSS px) and the width of a cell.
      const rows = await page.evaluate(() =>
        Array.from(document.querySelectorAll(".xterm-rows > div")).slice(0, 4).map((r) => {
          const b = r.getBoundingClientRect();
          return { x: b.x, y: b.y, w: b.width, h: b.height };
        }),
      );
      // A cell's width: the first run of text on the first row, over its length in characters.
      const cw = await page.evaluate(() => {
        const run = document.querySelector(".xterm-rows > div span")!;
        return run.getBoundingClientRect().width / (run.textContent ?? "").length;
      });
      const img = decodePng(await page.screenshot({ path: screenshotPath(`term-glyphs-${dpr}x`) }));
      const ink = (x: number, y: number) => img.lum(Math.floor(x * dpr), Math.floor(y * dpr)) > 64;
      // Device pixels of one cell, as [x, y] in CSS px at each device pixel's left/top edge.
      const cell = (row: number, col: number) => {
        const r = rows[row]!;
        const out: { x: number; y: number }[] = [];
        for (let y = Math.ceil(r.y * dpr); y < Math.floor((r.y + r.h) * dpr); y++)
          for (let x = Math.ceil((r.x + col * cw) * dpr); x < Math.floor((r.x + (col + 1) * cw) * dpr); x++) out.push({ x: x / dpr, y: y / dpr });
        return out;
      };
      // Underscores at columns 0-2 (`___`), 7 (`x86_64`) and 16 (`snake_case`): ink in the bottom
      // half of the row's box, which is all an underscore has.
      for (const col of [0, 1, 2, 7, 16]) {
        const r = rows[0]!;
        const lit = cell(0, col).filter((p) => p.y >= r.y + r.h / 2 && ink(p.x, p.y));
        expect({ col, lit: lit.length > 0 }).toEqual({ col, lit: true });
      }
      // The left │ (third row): find its stroke, then follow that pixel column from the middle of
      // the ┌ above to the middle of the └ below: every device pixel lit, so no gap between rows.
      const mid = rows[2]!.y + rows[2]!.h / 2;
      const stroke = cell(2, 0).find((p) => Math.abs(p.y - mid) < 1 / dpr && ink(p.x, p.y));
      expect(stroke).toBeDefined();
      const gaps: number[] = [];
      for (let y = Math.ceil((rows[1]!.y + rows[1]!.h / 2) * dpr); y < Math.floor((rows[3]!.y + rows[3]!.h / 2) * dpr); y++) if (!ink(stroke!.x, y / dpr)) gaps.push(y);
      expect(gaps).toEqual([]);
      await ctx.close();
    });
  }

  test("a lost connection says so, holds what is typed, and sends it when the connection is back", async () => {
    // A real network drop: the page talks to the server through a TCP relay the test can cut,
    // which resets every connection and refuses new ones until it is mended. (Restarting the
    // server would end its local terminals with it.)
    const net = await import("node:net");
    const sockets = new Set<import("node:net").Socket>();
    let cut = false;
    const relay = net.createServer((client) => {
      if (cut) return void client.destroy();
      const upstream = net.connect(Number(new URL(s.url).port), "127.0.0.1");
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        sockets.add(a);
        a.pipe(b);
        a.on("error", () => b.destroy());
        a.on("close", () => (sockets.delete(a), b.destroy()));
      }
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
    const via = `http://127.0.0.1:${(relay.address() as import("node:net").AddressInfo).port}`;
    try {
      const id = await create(["sh"]);
      const page = await context.newPage();
      await page.goto(`${via}/term/local/${id}`);
      await page.getByText("Connected").waitFor();
      await page.locator(".xterm-helper-textarea").focus();
      await page.keyboard.type("echo before-$((1+1))\n");
      await page.locator(".xterm-rows").getByText("before-2").waitFor();

      cut = true;
      for (const sock of sockets) sock.destroy();
      const banner = page.getByRole("alert");
      await banner.getByText("What you type is held and sent when it is back").waitFor();
      await page.locator("#state").getByText("Reconnecting…").waitFor();
      await page.locator(".xterm-helper-textarea").focus();
      await page.keyboard.type("echo held-$((6*7))\n");
      await page.screenshot({ path: screenshotPath("term-4-reconnecting") });
      expect(await page.locator(".xterm-rows").textContent()).not.toContain("held-42");
      // What is held is bounded (64 KiB): a bigger paste is dropped, and the banner says input is paused.
      await page.keyboard.insertText("y".repeat(70_000));
      await banner.getByText("Input paused: 64 KiB is held, more typing is dropped").waitFor();

      cut = false;
      await page.locator(".xterm-rows").getByText("held-42").waitFor();
      expect(await banner.isVisible()).toBe(false);
      await page.locator("#state").getByText("Connected").waitFor();
      // Sent once: the shell ran the line once (its echo and its output: two lines, no more).
      const screen = (await page.locator(".xterm-rows").textContent()) ?? "";
      expect(screen.match(/held-/g)).toHaveLength(2);
      expect(screen).not.toContain("yyy");
      await page.close();
    } finally {
      relay.close();
      for (const sock of sockets) sock.destroy();
    }
  });

  test("on a phone the extra-keys bar sends Esc, Tab, arrows and Ctrl+key; a desktop has no bar", async () => {
    const id = await create(["sh"]);
    const phone = await browser.newContext({ viewport: { width: 390, height: 700 }, hasTouch: true, isMobile: true, storageState: await context.storageState() });
    const page = await phone.newPage();
    await page.goto(`${s.url}/term/local/${id}`);
    await page.getByText("Connected").waitFor();
    const bar = page.getByRole("toolbar", { name: "Extra keys" });
    expect(await bar.isVisible()).toBe(true);
    await page.locator(".xterm-helper-textarea").focus();
    // `cat -A` shows every byte it reads: ESC as ^[, Tab as ^I, a line's end as $.
    await page.keyboard.type("cat -A\n");
    for (const name of ["Escape", "Tab", "Left arrow", "Up arrow", "Right arrow", "Down arrow"]) await bar.getByRole("button", { name }).tap();
    await page.keyboard.type("\n");
    await page.locator(".xterm-rows").getByText("^[^I^[[D^[[A^[[C^[[B$").waitFor();
    // Ctrl is sticky: tap it, then type c — that is ^C, which ends cat and gives the prompt back.
    const ctrl = bar.getByRole("button", { name: "Control, for the next key" });
    await ctrl.tap();
    expect(await ctrl.getAttribute("aria-pressed")).toBe("true");
    await page.keyboard.type("c");
    expect(await ctrl.getAttribute("aria-pressed")).toBe("false");
    await page.keyboard.type("echo back-$((2+3))\n");
    await page.locator(".xterm-rows").getByText("back-5").waitFor();
    await page.screenshot({ path: screenshotPath("term-5-phone-keys") });
    await phone.close();

    const desktop = await context.newPage();
    await desktop.goto(`${s.url}/term/local/${id}`);
    await desktop.getByText("Connected").waitFor();
    expect(await desktop.getByRole("toolbar", { name: "Extra keys" }).isVisible()).toBe(false);
    await desktop.close();
  });

  test("a terminal that does not exist says so", async () => {
    const page = await context.newPage();
    await page.goto(`${s.url}/term/local/term_nope`);
    await page.getByText("No such terminal").waitFor();
    await page.close();
  });
});
