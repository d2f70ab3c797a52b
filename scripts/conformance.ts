// Runs the published Durable Streams conformance suite (../shared/anchors/durable-streams) against
// a fresh Warren: a new data dir (or WARREN_TEST_DATABASE_URL's server, in a fresh database), the
// owner's API key as the suite's token, a 500 ms long-poll timeout, subscriptions on. Prints the
// suite's last line ("N passed, N failed, N skipped") and exits 0 only when nothing failed.
//   bun scripts/conformance.ts [--filter REGEX]
import { resolve } from "node:path";
import { existsSync } from "node:fs";
import { cleanup } from "../tests/harness";
import { streamServer } from "../tests/stream-helpers";

const runner = resolve(import.meta.dir, "../../shared/anchors/durable-streams/run-conformance.sh");
if (!existsSync(runner)) {
  console.error(`conformance: ${runner} not found (the anchors live in ../shared next to the repo)`);
  process.exit(1);
}
const filterAt = process.argv.indexOf("--filter");
const t = await streamServer();
console.error(`conformance: warren at ${t.server.url} (${t.server.databaseUrl ? "postgres" : "sqlite"})`);
const run = Bun.spawn(
  ["bash", runner, "--token", t.key, "--long-poll-ms", "500", "--subscriptions", ...(filterAt > 0 ? ["--filter", process.argv[filterAt + 1]!] : []), t.server.url],
  { stdout: "inherit", stderr: "inherit", env: { ...process.env, CI: "true" } },
);
const code = await run.exited;
await t.server.stop();
await cleanup();
process.exit(code);
