// Runs the published Durable Streams conformance suite (a pinned devDependency, through vitest on
// Node: scripts/conformance/) against a fresh Warren: a new data dir (or WARREN_TEST_DATABASE_URL's
// server, in a fresh database), the owner's API key as the suite's credential, a 500 ms long-poll
// timeout, subscriptions on. Prints "N passed, N failed, N skipped" last and exits 0 only when
// nothing failed.
//   bun scripts/conformance.ts [--filter REGEX]
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { cleanup } from "../tests/harness";
import { streamServer } from "../tests/stream-helpers";

const ROOT = resolve(import.meta.dir, "..");
const filterAt = process.argv.indexOf("--filter");
const t = await streamServer();
console.error(`conformance: warren at ${t.server.url} (${t.server.databaseUrl ? "postgres" : "sqlite"})`);
const out = mkdtempSync(join(tmpdir(), "warren-conformance-"));
const report = join(out, "report.json");
const run = Bun.spawn(
  [
    "node",
    join(ROOT, "node_modules/vitest/vitest.mjs"),
    "run",
    "--config",
    join(ROOT, "scripts/conformance/vitest.config.mjs"),
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${report}`,
    ...(filterAt > 0 ? ["-t", process.argv[filterAt + 1]!] : []),
  ],
  {
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
    env: { ...process.env, CI: "true", WARREN_CONFORMANCE_URL: t.server.url, WARREN_CONFORMANCE_KEY: t.key, WARREN_CONFORMANCE_LONG_POLL_MS: "500" },
  },
);
await run.exited;
await t.server.stop();
await cleanup();
let r: { numTotalTests: number; numPassedTests: number; numFailedTests: number; numPendingTests: number; numTodoTests: number };
try {
  r = JSON.parse(readFileSync(report, "utf8"));
} catch {
  console.log("0 passed, 1 failed, 0 skipped (vitest wrote no report)");
  process.exit(1);
} finally {
  rmSync(out, { recursive: true, force: true });
}
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
process.exit(r.numFailedTests === 0 && r.numTotalTests > 0 ? 0 : 1);
