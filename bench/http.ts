// bench/http.ts — Warren's HTTP overhead vs a bare Bun.serve, in one run (issue goal: ≥ 0.85).
// Each server runs in its own process; rounds alternate between them so that noise from other
// work on this shared machine hits both. Two figures per route: req/s under closed-loop load,
// and the server's CPU µs per request (steady even when neighbours steal time: the one to trust).
// Usage: bun bench/http.ts [--seconds 3] [--rounds 3] [--connections 32]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { alternate, cpuUs, loader, rps, start } from "./lib";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "3" }, rounds: { type: "string", default: "3" }, connections: { type: "string", default: "32" } },
});
const o = { seconds: Number(values.seconds), rounds: Number(values.rounds), connections: Number(values.connections) };

const dataDir = mkdtempSync(join(tmpdir(), "warren-bench-"));
const warren = await start([process.execPath, "cli/main.ts", "serve", "--port", "0", "--data-dir", dataDir, "--log-file", join(dataDir, "log.jsonl")]);
const bare = await start([process.execPath, join(import.meta.dir, "bare-server.ts")]);

console.log(`bench/http: ${o.rounds} rounds × ${o.seconds}s per server and route, ${o.connections} connections, load by ${loader}`);
for (const [label, path] of [["/healthz", "/healthz"], ["unknown route (404)", "/no/such/route"]] as const) {
  const t = await alternate({ warren: { pid: warren.proc.pid, url: warren.url + path }, bare: { pid: bare.proc.pid, url: bare.url + path } }, o);
  const w = t.warren!;
  const b = t.bare!;
  console.log(
    `${label}: warren ${rps(w, o).toFixed(0)} req/s, ${cpuUs(w).toFixed(1)} µs CPU/req | bare Bun.serve ${rps(b, o).toFixed(0)} req/s, ${cpuUs(b).toFixed(1)} µs CPU/req` +
      ` | ratio req/s ${(rps(w, o) / rps(b, o)).toFixed(2)}, ratio CPU efficiency ${(cpuUs(b) / cpuUs(w)).toFixed(2)}`,
  );
}
for (const s of [warren, bare]) s.proc.kill("SIGTERM");
rmSync(dataDir, { recursive: true, force: true });
