// bench/streams.ts — Durable Streams against the protocol's reference server, in one run: the
// anchor's own load script (../shared/anchors/durable-streams/bench.ts: (a) 20,000 × 100 B
// appends at concurrency 16, (b) 50 MiB catch-up identity and gzip, (c) 100 SSE readers ×
// 1000 appends) against Warren (authenticated; SQLite, and Postgres when a URL is given) and
// the reference in durable file mode (fdatasync per append) and in memory mode. Servers run on
// core 0, the load on core 1. Prints each RESULT and the ratios the issue sets goals for.
// With a Postgres URL it also measures a live read across two replicas (append on A, SSE on B).
// Usage: bun bench/streams.ts [--database-url postgres://…] [--only a,b,c] [--skip-reference-file]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ROOT, ownerCredentials, start } from "./lib";

const { values } = parseArgs({
  options: { "database-url": { type: "string" }, only: { type: "string", default: "a,b,c" }, "skip-reference-file": { type: "boolean", default: false } },
});
const anchors = resolve(ROOT, "../shared/anchors/durable-streams");
const taskset = Bun.which("taskset");
const onCore = (core: number, cmd: string[]) => (taskset ? [taskset, "-c", String(core), ...cmd] : cmd);
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "warren-bench-streams-"));
  dirs.push(d);
  return d;
};

interface Result {
  append?: { opsPerSec: number; p50ms: number; p99ms: number };
  catchup?: Record<string, { MBps: number; ttfbMs: number }>;
  live_sse?: { delivered: number; expected: number; p50ms: number; p99ms: number };
}

async function runBench(name: string, base: string, token?: string, pid?: number): Promise<Result> {
  console.log(`\n== ${name} (${base})`);
  const p = Bun.spawn(onCore(1, [process.execPath, join(anchors, "bench.ts"), base]), {
    env: { ...process.env, ONLY: values.only!, ...(token ? { TOKEN: token } : {}), ...(pid ? { SERVER_PID: String(pid) } : {}) },
    stdout: "pipe",
    stderr: "inherit",
  });
  const out = await new Response(p.stdout).text();
  await p.exited;
  for (const line of out.split("\n")) if (line && !line.startsWith("RESULT ")) console.log(`  ${line}`);
  const r = /^RESULT (.*)$/m.exec(out);
  if (!r) throw new Error(`${name}: the bench printed no RESULT`);
  return JSON.parse(r[1]!) as Result;
}

async function warren(name: string, databaseUrl?: string): Promise<Result> {
  const dataDir = tmp();
  const w = await start([
    process.execPath, "cli/main.ts", "serve", "--port", "0", "--data-dir", dataDir, "--log-file", join(dataDir, "log.jsonl"),
    ...(databaseUrl ? ["--database-url", databaseUrl] : []),
  ], { pairing: true });
  try {
    const { key } = await ownerCredentials(w);
    return await runBench(name, w.url, key, w.proc.pid);
  } finally {
    w.proc.kill("SIGTERM");
    await w.proc.exited;
  }
}

async function reference(name: string, dataDir?: string): Promise<Result> {
  const port = 4500 + Math.floor(Math.random() * 400);
  const started = Bun.spawnSync(onCore(0, ["bash", join(anchors, "reference.sh"), String(port), ...(dataDir ? [dataDir] : [])]), { stdout: "pipe", stderr: "inherit" });
  const pid = Number(started.stdout.toString().trim());
  if (!pid) throw new Error(`${name}: the reference server did not start`);
  try {
    return await runBench(name, `http://127.0.0.1:${port}`, undefined, pid);
  } finally {
    process.kill(pid, "SIGTERM");
  }
}

/** A fresh database on the Postgres server the URL names (the bench never writes to the one given). */
async function freshPg(url: string): Promise<string> {
  const name = `warren_bench_${Date.now().toString(36)}`;
  const admin = new Bun.SQL(url, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.close();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Replica B's SSE readers, replica A's writes: how long a notice takes across replicas (goal: < 100 ms). */
async function crossReplica(databaseUrl: string): Promise<void> {
  const start2 = (dir: string) => start([process.execPath, "cli/main.ts", "serve", "--port", "0", "--data-dir", dir, "--database-url", databaseUrl, "--log-file", join(dir, "log.jsonl")]);
  const a = await start([process.execPath, "cli/main.ts", "serve", "--port", "0", "--data-dir", tmp(), "--database-url", databaseUrl], { pairing: true });
  const b = await start2(tmp());
  try {
    const { key } = await ownerCredentials(a);
    const auth = { authorization: `Bearer ${key}` };
    const url = (base: string) => `${base}/v1/stream/cross-replica`;
    await fetch(url(a.url), { method: "PUT", headers: { ...auth, "content-type": "application/json" } });
    const readers = 20;
    const appends = 300;
    const latencies: number[] = [];
    const ac = new AbortController();
    const read = async () => {
      const r = await fetch(`${url(b.url)}?offset=now&live=sse`, { headers: auth, signal: ac.signal });
      const decoder = new TextDecoder();
      let buf = "";
      let got = 0;
      for await (const part of r.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(part, { stream: true });
        for (let k = buf.indexOf("\n\n"); k >= 0; k = buf.indexOf("\n\n")) {
          const block = buf.slice(0, k);
          buf = buf.slice(k + 2);
          if (!block.startsWith("event: data")) continue;
          const now = performance.now();
          for (const m of JSON.parse(block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("\n")) as { t: number }[]) {
            latencies.push(now - m.t);
            got++;
          }
        }
        if (got >= appends) return;
      }
    };
    const all = Array.from({ length: readers }, () => read().catch(() => {}));
    await Bun.sleep(500);
    for (let i = 0; i < appends; i++) {
      await fetch(url(a.url), { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify([{ t: performance.now() }]) });
      await Bun.sleep(10);
    }
    const deadline = Date.now() + 10_000;
    while (latencies.length < readers * appends && Date.now() < deadline) await Bun.sleep(20);
    ac.abort();
    await Promise.all(all);
    const sorted = latencies.sort((x, y) => x - y);
    const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
    console.log(`\n== cross-replica live read (Postgres LISTEN/NOTIFY): ${readers} SSE readers on B, ${appends} appends on A`);
    console.log(`  delivered ${latencies.length}/${readers * appends}, latency p50 ${p(0.5)}ms p99 ${p(0.99)}ms max ${p(1)}ms`);
  } finally {
    a.proc.kill("SIGTERM");
    b.proc.kill("SIGTERM");
    await Promise.all([a.proc.exited, b.proc.exited]);
  }
}

const results: Record<string, Result> = {};
results["warren sqlite"] = await warren("warren, SQLite (durable: fsync per commit)");
if (values["database-url"]) {
  results["warren postgres"] = await warren("warren, Postgres", await freshPg(values["database-url"]));
  await crossReplica(await freshPg(values["database-url"]));
}
if (!values["skip-reference-file"]) results["reference file"] = await reference("reference, file mode (durable: fdatasync per append)", tmp());
results["reference memory"] = await reference("reference, memory mode (not durable)");

const ratio = (a?: number, b?: number) => (a && b ? (a / b).toFixed(2) : "n/a");
console.log("\n== ratios (ours / reference; latency: reference p99 / ours, so > 1 is better)");
for (const ours of Object.keys(results).filter((k) => k.startsWith("warren"))) {
  const o = results[ours]!;
  for (const ref of Object.keys(results).filter((k) => k.startsWith("reference"))) {
    const r = results[ref]!;
    const parts = [
      `appends/s ${ratio(o.append?.opsPerSec, r.append?.opsPerSec)}`,
      `catch-up identity ${ratio(o.catchup?.identity?.MBps, r.catchup?.identity?.MBps)}`,
      `catch-up gzip ${ratio(o.catchup?.gzip?.MBps, r.catchup?.gzip?.MBps)}`,
      `SSE p99 ${ratio(r.live_sse?.p99ms, o.live_sse?.p99ms)} (${o.live_sse?.p99ms ?? "?"} vs ${r.live_sse?.p99ms ?? "?"} ms)`,
    ];
    console.log(`  ${ours} vs ${ref}: ${parts.join(", ")}`);
  }
}
for (const d of dirs) rmSync(d, { recursive: true, force: true });
