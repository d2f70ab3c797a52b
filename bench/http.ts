// bench/http.ts — Warren's HTTP overhead vs a bare Bun.serve, in one run (issue goal: ≥ 0.85).
// Each server runs in its own process; rounds alternate between them so that noise from other
// work on this shared machine hits both. Two figures per route:
//   req/s   under a closed-loop load (wrk when installed, else bench/load.ts);
//   CPU µs per request, read from /proc for the server process — steady even when neighbours
//           steal time, so its ratio is the one to trust.
// Usage: bun bench/http.ts [--seconds 3] [--rounds 3] [--connections 32]
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: { seconds: { type: "string", default: "3" }, rounds: { type: "string", default: "3" }, connections: { type: "string", default: "32" } },
});
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONC = Number(values.connections);
const ROOT = join(import.meta.dir, "..");
const wrk = Bun.which("wrk");
// Server on core 0, load on core 1 (when taskset exists): the two compete less, figures steady.
const taskset = Bun.which("taskset");
const onCore = (core: number, cmd: string[]) => (taskset ? [taskset, "-c", String(core), ...cmd] : cmd);

async function start(cmd: string[]): Promise<{ proc: Bun.Subprocess; url: string }> {
  const proc = Bun.spawn(onCore(0, cmd), { cwd: ROOT, stdout: "pipe", stderr: "ignore" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!/listening on (\S+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd.join(" ")} exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  return { proc, url: /listening on (\S+)/.exec(text)![1]! };
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 10 ms
}

async function load(url: string): Promise<number> {
  if (wrk) {
    const p = Bun.spawnSync(onCore(1, [wrk, "-t1", `-c${CONC}`, `-d${SECONDS}s`, url]), { stdout: "pipe" });
    return Number(/Requests\/sec:\s+([\d.]+)/.exec(p.stdout.toString())?.[1] ?? 0) * SECONDS;
  }
  const p = Bun.spawnSync(onCore(1, [process.execPath, join(import.meta.dir, "load.ts"), url, String(SECONDS), String(CONC)]), { stdout: "pipe" });
  return (JSON.parse(p.stdout.toString()) as { requests: number }).requests;
}

const dataDir = mkdtempSync(join(tmpdir(), "warren-bench-"));
const servers = {
  warren: await start([process.execPath, "cli/main.ts", "serve", "--port", "0", "--data-dir", dataDir, "--log-file", join(dataDir, "log.jsonl")]),
  bare: await start([process.execPath, join(import.meta.dir, "bare-server.ts")]),
};
const routes = { "/healthz": "/healthz", "unknown route (404)": "/no/such/route" };
type Tally = { requests: number; cpu: number };
const tally: Record<string, Record<string, Tally>> = {};

console.log(`bench/http: ${ROUNDS} rounds × ${SECONDS}s per server and route, ${CONC} connections, load by ${wrk ? "wrk" : "bench/load.ts"}`);
for (const [label, path] of Object.entries(routes)) {
  for (const s of Object.values(servers)) await load(s.url + path); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, s] of Object.entries(servers)) {
      const cpu0 = cpuSeconds(s.proc.pid);
      const requests = await load(s.url + path);
      const t = ((tally[label] ??= {})[name] ??= { requests: 0, cpu: 0 });
      t.requests += requests;
      t.cpu += cpuSeconds(s.proc.pid) - cpu0;
    }
  }
}

for (const s of Object.values(servers)) s.proc.kill("SIGTERM");
rmSync(dataDir, { recursive: true, force: true });

for (const [label, byServer] of Object.entries(tally)) {
  const w = byServer.warren!;
  const b = byServer.bare!;
  const rps = (t: Tally) => t.requests / (ROUNDS * SECONDS);
  const us = (t: Tally) => (t.cpu / t.requests) * 1e6;
  console.log(
    `${label}: warren ${rps(w).toFixed(0)} req/s, ${us(w).toFixed(1)} µs CPU/req | bare Bun.serve ${rps(b).toFixed(0)} req/s, ${us(b).toFixed(1)} µs CPU/req` +
      ` | ratio req/s ${(rps(w) / rps(b)).toFixed(2)}, ratio CPU efficiency ${(us(b) / us(w)).toFixed(2)}`,
  );
}
