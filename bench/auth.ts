// bench/auth.ts — what the credential check costs (goal: each ratio ≥ 0.8). One warren server,
// one route that answers with or without a credential (GET /api/auth/session): the same GET
// with a session token, an API key and a host JWT vs with none, alternating rounds in one run.
// Prints each ratio and the per-request cost of authentication in server CPU µs.
// Usage: bun bench/auth.ts [--seconds 3] [--rounds 3] [--connections 32]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { alternate, cpuUs, loader, ownerCredentials, rps, start } from "./lib";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "3" }, rounds: { type: "string", default: "3" }, connections: { type: "string", default: "32" } },
});
const o = { seconds: Number(values.seconds), rounds: Number(values.rounds), connections: Number(values.connections) };

const dataDir = mkdtempSync(join(tmpdir(), "warren-bench-"));
const warren = await start([process.execPath, "cli/main.ts", "serve", "--port", "0", "--data-dir", dataDir, "--log-file", join(dataDir, "log.jsonl")], { pairing: true });
const { session: sessionToken, key } = await ownerCredentials(warren);
const url = `${warren.url}/api/auth/session`;
const asOwner = { authorization: `Bearer ${sessionToken}` };
const { token: jwt } = (await (await fetch(`${warren.url}/api/auth/token`, { headers: { "x-api-key": key } })).json()) as { token: string };

console.log(`bench/auth: ${o.rounds} rounds × ${o.seconds}s per case, ${o.connections} connections, load by ${loader}`);
const t = await alternate(
  {
    anonymous: { pid: warren.proc.pid, url },
    session: { pid: warren.proc.pid, url, headers: asOwner },
    "api key": { pid: warren.proc.pid, url, headers: { "x-api-key": key } },
    jwt: { pid: warren.proc.pid, url, headers: { authorization: `Bearer ${jwt}` } },
  },
  o,
);
const n = t.anonymous!;
console.log(`GET /api/auth/session without a credential: ${rps(n, o).toFixed(0)} req/s, ${cpuUs(n).toFixed(1)} µs CPU/req`);
for (const name of ["session", "api key", "jwt"]) {
  const a = t[name]!;
  console.log(
    `  with ${name}: ${rps(a, o).toFixed(0)} req/s, ${cpuUs(a).toFixed(1)} µs CPU/req | ratio req/s ${(rps(a, o) / rps(n, o)).toFixed(2)}, ` +
      `ratio CPU efficiency ${(cpuUs(n) / cpuUs(a)).toFixed(2)}, auth cost ${(cpuUs(a) - cpuUs(n)).toFixed(1)} µs/req`,
  );
}
warren.proc.kill("SIGTERM");
rmSync(dataDir, { recursive: true, force: true });
