// Headless Chromium for page tests (Debian `chromium` + playwright-core, no browser download).
// Outside CI a machine without Chromium skips these tests with a note; in CI they must run.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./harness";

export const CHROMIUM = process.env.WARREN_CHROMIUM ?? "/usr/bin/chromium";
export const HAVE_CHROMIUM = existsSync(CHROMIUM) || !!process.env.CI;
if (!HAVE_CHROMIUM) console.warn(`page tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set WARREN_CHROMIUM)`);

export async function launch() {
  const { chromium } = await import("playwright-core");
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Screenshots land in .artifacts/screens/ for a person to look at. */
export function screenshotPath(name: string): string {
  const dir = join(ROOT, ".artifacts", "screens");
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.png`);
}
