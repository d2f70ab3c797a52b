// bench/web.ts — the dashboard as a browser sees it (goal: < 150 KB transferred for `/`, before
// the terminal page's xterm.js). Headless Chromium (Debian's, driven by playwright-core) signs in
// through the printed link, then loads `/` ROUNDS times with a cold cache and reports first
// contentful paint, the time until the dashboard shows data, and the bytes transferred.
// Usage: bun bench/web.ts [--rounds 5]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { start } from "./lib";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
const ROUNDS = Number(values.rounds);
const dataDir = mkdtempSync(join(tmpdir(), "warren-bench-"));
const warren = await start([process.execPath, "cli/main.ts", "serve", "--port", "0", "--data-dir", dataDir, "--log-file", join(dataDir, "log.jsonl")], { pairing: true });
const link = /(http\S+\/pair#token=\S+)/.exec(warren.printed)![1]!;
const browser = await chromium.launch({
  executablePath: process.env.WARREN_CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext();
const page = await context.newPage();
await page.goto(link);
await page.waitForURL(`${warren.url}/`);

const results: { fcp: number; ready: number; bytes: number }[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.clearBrowserCache");
  let bytes = 0;
  cdp.on("Network.loadingFinished", (e) => (bytes += e.encodedDataLength));
  const t0 = Date.now();
  await page.goto(`${warren.url}/`, { waitUntil: "load" });
  await page.locator("#who", { hasText: "Owner" }).waitFor();
  const ready = Date.now() - t0;
  await page.waitForLoadState("networkidle");
  const fcp = await page.evaluate(() => performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? -1);
  results.push({ fcp, ready, bytes });
  await cdp.detach();
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`bench/web: GET / cold, ${ROUNDS} rounds in headless Chromium`);
console.log(
  `first contentful paint ${median(results.map((r) => r.fcp)).toFixed(0)} ms | dashboard showing data ${median(results.map((r) => r.ready))} ms | ` +
    `transferred ${(median(results.map((r) => r.bytes)) / 1024).toFixed(1)} KB (goal < 150 KB)`,
);
await browser.close();
warren.proc.kill("SIGTERM");
await warren.proc.exited;
rmSync(dataDir, { recursive: true, force: true });
