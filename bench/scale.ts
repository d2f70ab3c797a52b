// bench/scale.ts — a team's day on one box (issue 18 item 1): N hosts speaking the real relay
// protocol (the real HostAgent class, one WebSocket each, host JWTs minted from a real API key),
// M clients attached to terminals on them through the server, each writing and reading a steady
// 4 KB/s (keystroke → echo latency measured end to end), K stream writers and K SSE tailers.
// The hosts' terminals are echo terminals answered by the agent itself: what is measured is the
// relay and the server, not PTYs.
//
// One Warren on SQLite, or with --database-url postgres://… two replicas on a fresh database of
// that server (created here, dropped at the end): hosts alternate between replicas, half the
// clients attach through the replica that does not hold their host (forwarded), tailers read on
// the other replica than their writer (LISTEN/NOTIFY between replicas).
//
// Servers run on core 0, this load process on core 1 (taskset, when present).
// Every 10 s: server RSS, CPU, fds, sockets, threads, DB connections and rows; the load's own CPU.
// Pass (exit 0): every throughput ≥ 90 % of target, < 1 % disconnects, p99 echo < 100 ms, RSS
// growth ≤ 10 % over the last 4 minutes (over the last 80 % of shorter runs). --soak also fails
// on growth of fds, sockets, threads and DB rows (stream and audit rows excepted).
//
// Usage: bun bench/scale.ts [--hosts 200] [--clients 1000] [--streams 100] [--minutes 5]
//        [--database-url postgres://user:pw@host/db] [--smoke] [--soak] [--kbps 4] [--appends 5]
//        [--cpu-prof DIR] [--unpinned]
//   --smoke: 10 hosts, 50 clients, 10 streams, 1 minute (flags given still win).
//   --soak: 30 minutes unless --minutes says otherwise; growth criteria over the second half.
import { SQL } from "bun";
import { Database } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { HostAgent } from "../relay/agent";
import type { TerminalHost, TerminalInfo } from "../pty/host";
import { ACK_EVERY, encode, parseServer } from "../pty/protocol";
import { cpuSeconds, ownerCredentials, start, type Started } from "./lib";

const { values } = parseArgs({
  options: {
    hosts: { type: "string" },
    clients: { type: "string" },
    streams: { type: "string" },
    minutes: { type: "string" },
    "database-url": { type: "string" },
    smoke: { type: "boolean", default: false },
    soak: { type: "boolean", default: false },
    kbps: { type: "string", default: "4" },
    appends: { type: "string", default: "5" },
    "cpu-prof": { type: "string" },
    unpinned: { type: "boolean", default: false },
  },
});
const smoke = values.smoke;
const N = Number(values.hosts ?? (smoke ? 10 : 200));
const M = Number(values.clients ?? (smoke ? 50 : 1000));
const K = Number(values.streams ?? (smoke ? 10 : 100));
const MINUTES = Number(values.minutes ?? (values.soak ? 30 : smoke ? 1 : 5));
const KBPS = Number(values.kbps);
const APPENDS = Number(values.appends);
/** Each client writes this many messages a second; together KBPS KB/s. */
const WRITES_PER_S = 10;
const MSG = Math.round((KBPS * 1000) / WRITES_PER_S);
const SAMPLE_MS = 10_000;
const now = () => performance.timeOrigin + performance.now();
const log = (line: string) => console.log(line);

// This process is the load: core 1, away from the servers on core 0.
const taskset = Bun.which("taskset");
// --unpinned: servers and load float over both cores (on a box shared with other work, a pinned
// server waits for its one core while the other may be idle).
const pin = (cores: string, pid: number) => taskset && Bun.spawnSync([taskset, "-a", "-cp", cores, String(pid)], { stdout: "ignore", stderr: "ignore" });
pin(values.unpinned ? "0,1" : "1", process.pid);

// --- servers ------------------------------------------------------------------------------------

const adminUrl = values["database-url"];
let dbName = "";
let dbUrl: string | undefined;
if (adminUrl) {
  dbName = `warren_scale_${randomBytes(5).toString("hex")}`;
  const admin = new SQL(adminUrl, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${dbName}`);
  await admin.close();
  const u = new URL(adminUrl);
  u.pathname = `/${dbName}`;
  dbUrl = u.toString();
}
const REPLICAS = dbUrl ? 2 : 1;
const secret = randomBytes(32).toString("base64url") + "\n";
// However this ends (a crash included), the servers go with it.
process.on("exit", () => {
  for (const s of servers) if (s.proc.exitCode === null) s.proc.kill("SIGKILL");
});
const dirs: string[] = [];
const servers: (Started & { dataDir: string })[] = [];
for (let r = 0; r < REPLICAS; r++) {
  const dataDir = mkdtempSync(join(tmpdir(), "warren-scale-"));
  dirs.push(dataDir);
  if (dbUrl) writeFileSync(join(dataDir, "secret"), secret, { mode: 0o600 });
  const prof = values["cpu-prof"] ? ["--cpu-prof", `--cpu-prof-dir=${values["cpu-prof"]}`, `--cpu-prof-name=replica-${r}.cpuprofile`] : [];
  const cmd = [process.execPath, ...prof, "cli/main.ts", "serve", "--port", "0", "--data-dir", dataDir, "--no-browser", "--log-file", join(dataDir, "log.jsonl"), ...(dbUrl ? ["--database-url", dbUrl] : [])];
  servers.push({ ...(await start(cmd, { pairing: r === 0 })), dataDir });
  if (values.unpinned) pin("0,1", servers.at(-1)!.proc.pid);
}
const { key } = await ownerCredentials(servers[0]!);
const withKey = { "x-api-key": key };
const urlOf = (i: number) => servers[i % REPLICAS]!.url;
log(`scale: ${REPLICAS === 2 ? `2 replicas on Postgres (${dbName})` : "1 server on SQLite"}; ${N} hosts, ${M} clients × ${KBPS} KB/s, ${K} writers × ${APPENDS}/s + ${K} SSE tailers, ${MINUTES} min`);

// --- measurements -------------------------------------------------------------------------------

/** Latencies in 0.1 ms buckets up to 60 s. */
class Histogram {
  private b = new Uint32Array(600_000);
  n = 0;
  max = 0;
  add(ms: number) {
    this.b[Math.min(this.b.length - 1, Math.max(0, Math.round(ms * 10)))]!++;
    this.n++;
    this.max = Math.max(this.max, ms);
  }
  q(p: number): number {
    if (!this.n) return NaN;
    const want = Math.ceil(this.n * p);
    for (let i = 0, seen = 0; i < this.b.length; i++) if ((seen += this.b[i]!) >= want) return i / 10;
    return this.max;
  }
}

let measuring = false;
const echo = new Histogram();
const delivery = new Histogram();
const tally = { echoBytes: 0, sentBytes: 0, appends: 0, appendFailures: 0, delivered: 0, clientDrops: 0, hostDrops: 0, tailerDrops: 0, attachFailures: 0 };

// --- hosts: the real HostAgent with echo terminals -----------------------------------------------

function echoTerminals(): TerminalHost {
  const terms = new Map<string, TerminalInfo>();
  let n = 0;
  return {
    list: async () => [...terms.values()],
    get: async (_c, tid) => terms.get(tid) ?? null,
    async create(c) {
      const info: TerminalInfo = { id: `t${++n}`, cmd: ["echo"], cols: 80, rows: 24, createdAt: new Date().toISOString(), createdBy: c.userId, attached: 0, offset: 0, exit: null };
      terms.set(info.id, info);
      return info;
    },
    kill: async (_c, tid) => terms.get(tid) ?? null,
    async attach(_c, tid, o, sink) {
      const t = terms.get(tid);
      if (!t) return null;
      t.attached++;
      sink.text(encode({ type: "hello", offset: t.offset, cols: t.cols, rows: t.rows, writable: o.writable }));
      return {
        input(bytes) {
          t.offset += bytes.length;
          sink.binary(bytes);
        },
        control() {},
        detach: () => void t.attached--,
      };
    },
  };
}

interface Host {
  agent: HostAgent;
  id: string;
  replica: number;
}
const hosts: Host[] = [];
const started = now();
for (let i = 0; i < N; i += 20) {
  await Promise.all(
    Array.from({ length: Math.min(20, N - i) }, async (_, j) => {
      const n = i + j;
      const server = urlOf(n);
      let connected = false;
      const agent = new HostAgent({
        server,
        name: `scale-${n}`,
        autoName: false,
        instance: randomBytes(8).toString("hex"),
        version: "scale",
        request: (path) => fetch(`${server}${path}`, { headers: withKey }),
        describe: async (r) => `${r.status} ${await r.text()}`,
        terminals: echoTerminals(),
        exposed: new Set(),
        log: () => {},
        onState: (s) => {
          if (s.status === "connected") connected = true;
          else if (s.status === "reconnecting" && connected) {
            connected = false;
            if (measuring) tally.hostDrops++;
          }
        },
      });
      const state = await agent.start();
      hosts[n] = { agent, id: state.hostId!, replica: n % REPLICAS };
    }),
  );
}
log(`hosts: ${N} connected in ${((now() - started) / 1000).toFixed(1)} s`);

// --- terminal clients ---------------------------------------------------------------------------

interface Client {
  ws: WebSocket | null;
  /** Bytes sent, and the end offset + send time of each message not yet echoed. */
  sent: number;
  got: number;
  acked: number;
  pending: { end: number; at: number }[];
}
let running = true;
const payload = new Uint8Array(MSG).fill(0x61);
const clients: Client[] = [];

async function newTerminal(j: number): Promise<{ url: string }> {
  const h = hosts[j % N]!;
  // A client attaches through replica floor(j / N): with two replicas half go through the one that does not hold the host.
  const via = urlOf(Math.floor(j / N) + h.replica);
  const r = await fetch(`${via}/api/hosts/${h.id}/terminals`, { method: "POST", headers: { ...withKey, "content-type": "application/json" }, body: JSON.stringify({ cmd: ["echo"] }) });
  if (r.status !== 201) throw new Error(`creating a terminal on ${h.id} via ${via}: ${r.status} ${await r.text()}`);
  const { id } = (await r.json()) as { id: string };
  return { url: `${via.replace(/^http/, "ws")}/api/hosts/${h.id}/terminals/${id}/attach` };
}

function attach(c: Client, url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: withKey } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    c.ws = ws;
    let hello = false;
    ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        if (parseServer(e.data)?.type === "hello" && !hello) {
          hello = true;
          resolve();
        }
        return;
      }
      const n = (e.data as ArrayBuffer).byteLength;
      c.got += n;
      const t = now();
      while (c.pending.length && c.pending[0]!.end <= c.got) {
        const p = c.pending.shift()!;
        if (measuring) echo.add(t - p.at);
      }
      if (measuring) tally.echoBytes += n;
      if (c.got - c.acked >= ACK_EVERY) {
        c.acked = c.got;
        ws.send(encode({ type: "ack", offset: c.got }));
      }
    };
    ws.onerror = () => {};
    ws.onclose = () => {
      if (!hello) return reject(new Error("attach refused"));
      if (!running) return;
      if (measuring) tally.clientDrops++;
      // Come back on a fresh attach; what was in flight is lost (and counts against throughput).
      c.pending = [];
      c.ws = null;
      setTimeout(() => attach(c, url).catch(() => tally.attachFailures++), 1000);
    };
  });
}

function writeLoop(c: Client) {
  const tick = () => {
    if (!running) return;
    const ws = c.ws;
    if (ws?.readyState === WebSocket.OPEN) {
      c.sent += MSG;
      c.pending.push({ end: c.sent, at: now() });
      ws.send(payload);
      if (measuring) tally.sentBytes += MSG;
    }
  };
  setTimeout(() => setInterval(tick, 1000 / WRITES_PER_S), Math.random() * (1000 / WRITES_PER_S));
}

for (let j = 0; j < M; j += 50) {
  await Promise.all(
    Array.from({ length: Math.min(50, M - j) }, async (_, k) => {
      const { url } = await newTerminal(j + k);
      const c: Client = { ws: null, sent: 0, got: 0, acked: 0, pending: [] };
      clients[j + k] = c;
      await attach(c, url);
      // Each attach starts a fresh echo count (the terminal's offset is the client's bytes).
      writeLoop(c);
    }),
  );
}
log(`clients: ${M} attached in ${((now() - started) / 1000).toFixed(1)} s since start`);

// --- streams: K writers, K SSE tailers ----------------------------------------------------------

const streamUrl = (r: number, w: number) => `${urlOf(r)}/v1/stream/scale/s${w}`;
for (let w = 0; w < K; w++) {
  const r = await fetch(streamUrl(w, w), { method: "PUT", headers: { ...withKey, "content-type": "text/plain" } });
  if (r.status !== 201) throw new Error(`creating stream s${w}: ${r.status} ${await r.text()}`);
}

async function tailer(w: number) {
  let offset = "now";
  const pattern = /(\d+):(\d+):([\d.]+);/g;
  while (running) {
    try {
      const r = await fetch(`${streamUrl(w + 1, w)}?offset=${offset}&live=sse`, { headers: withKey });
      if (r.status !== 200) throw new Error(String(r.status));
      const decoder = new TextDecoder();
      let buf = "";
      for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
        if (!running) break;
        buf += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const event = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
          if (event.startsWith("event: control")) {
            const o = (JSON.parse(data) as { streamNextOffset?: string }).streamNextOffset;
            if (o) offset = o;
          } else if (measuring) {
            const t = now();
            for (const m of data.matchAll(pattern)) {
              delivery.add(t - Number(m[3]));
              tally.delivered++;
            }
          }
        }
      }
    } catch {
      if (measuring && running) tally.tailerDrops++;
      await Bun.sleep(500);
    }
    // The server ends an SSE response after its connection time: the protocol's reconnect, not a drop.
  }
}

async function writer(w: number) {
  let seq = 0;
  const every = 1000 / APPENDS;
  let next = now() + Math.random() * every;
  while (running) {
    await Bun.sleep(Math.max(0, next - now()));
    next += every;
    // Open loop: a slot missed while the previous append was outstanding is throughput lost.
    if (next < now()) next = now() + every;
    try {
      const r = await fetch(streamUrl(w, w), { method: "POST", headers: { ...withKey, "content-type": "text/plain" }, body: `${w}:${seq++}:${now().toFixed(2)};` });
      if (!measuring) continue;
      if (r.status === 204) tally.appends++;
      else tally.appendFailures++;
    } catch {
      if (measuring) tally.appendFailures++;
    }
  }
}
const tailing = Array.from({ length: K }, (_, w) => tailer(w));
await Bun.sleep(1000);
const writing = Array.from({ length: K }, (_, w) => writer(w));

// --- sampling -----------------------------------------------------------------------------------

/** Nanoseconds the main thread ran, and waited runnable for a CPU (another process had it). */
const sched = (pid: number) => readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ").map(Number) as [number, number, number];
const status = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const rss = (pid: number) => status(pid, "VmRSS") / 1024;
function fds(pid: number): { fds: number; sockets: number } {
  const all = readdirSync(`/proc/${pid}/fd`);
  let sockets = 0;
  for (const f of all) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${f}`).startsWith("socket:")) sockets++;
    } catch {
      // Closed while we looked.
    }
  }
  return { fds: all.length, sockets };
}

const admin = dbUrl ? new SQL(dbUrl, { max: 1 }) : null;
/**
 * Tables that grow with use by design, left out of the soak's flat-rows check: streams' data,
 * and the audit log (a JWT minted at every host's token refresh; bounded by --audit-retention).
 */
const GROWING_TABLES = /stream|audit/i;
async function dbRows(): Promise<{ other: number; growing: number; connections: number | null }> {
  let tables: string[];
  const count = async (t: string): Promise<number> => {
    if (admin) return Number(((await admin.unsafe(`SELECT count(*)::int AS n FROM "${t}"`)) as { n: number }[])[0]!.n);
    const db = new Database(join(servers[0]!.dataDir, "warren.db"), { readonly: true });
    try {
      return (db.query(`SELECT count(*) AS n FROM "${t}"`).get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  if (admin) tables = ((await admin.unsafe(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)) as { tablename: string }[]).map((r) => r.tablename);
  else {
    const db = new Database(join(servers[0]!.dataDir, "warren.db"), { readonly: true });
    tables = (db.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).all() as { name: string }[]).map((r) => r.name);
    db.close();
  }
  let other = 0;
  let growing = 0;
  for (const t of tables) {
    const n = await count(t);
    if (GROWING_TABLES.test(t)) growing += n;
    else other += n;
  }
  const connections = admin ? Number(((await admin.unsafe(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = '${dbName}'`)) as { n: number }[])[0]!.n) - 1 : null;
  return { other, growing, connections };
}

interface Sample {
  t: number;
  rss: number[];
  cpu: number[];
  fds: number[];
  sockets: number[];
  /**
   * OS threads: the nearest thing to goroutines a Bun process shows from outside (its timers and
   * promises are not countable there: process.getActiveResourcesInfo() is empty in Bun); a
   * leaked timer or closure shows as RSS growth instead.
   */
  threads: number[];
  rows: number;
  growingRows: number;
  connections: number | null;
  loadCpu: number;
  loadRss: number;
  /** Fraction of the interval the server's main thread was runnable but not running (CPU contention). */
  waiting: number[];
  echoP99: number;
}
const samples: Sample[] = [];
let lastCpu = servers.map((s) => cpuSeconds(s.proc.pid));
let lastWait = servers.map((s) => sched(s.proc.pid)[1]);
let lastLoadCpu = cpuSeconds(process.pid);
let lastAt = now();
let interval = new Histogram();
const windowAdd = echo.add.bind(echo);
echo.add = (ms: number) => {
  interval.add(ms);
  windowAdd(ms);
};

async function sample(t0: number) {
  const t = now();
  const secs = (t - lastAt) / 1000;
  const cpuNow = servers.map((s) => cpuSeconds(s.proc.pid));
  const waitNow = servers.map((s) => sched(s.proc.pid)[1]);
  const loadCpu = cpuSeconds(process.pid);
  const f = servers.map((s) => fds(s.proc.pid));
  const db = await dbRows();
  const s: Sample = {
    t: (t - t0) / 1000,
    rss: servers.map((x) => rss(x.proc.pid)),
    cpu: cpuNow.map((c, i) => (c - lastCpu[i]!) / secs),
    fds: f.map((x) => x.fds),
    sockets: f.map((x) => x.sockets),
    threads: servers.map((x) => status(x.proc.pid, "Threads")),
    rows: db.other,
    growingRows: db.growing,
    connections: db.connections,
    loadCpu: (loadCpu - lastLoadCpu) / secs,
    loadRss: process.memoryUsage().rss / 1048576,
    echoP99: interval.q(0.99),
    waiting: waitNow.map((w, i) => (w - lastWait[i]!) / 1e9 / secs),
  };
  lastCpu = cpuNow;
  lastWait = waitNow;
  lastLoadCpu = loadCpu;
  lastAt = t;
  interval = new Histogram();
  samples.push(s);
  const per = (xs: number[], fmt: (x: number) => string) => xs.map(fmt).join("/");
  log(
    `  t=${s.t.toFixed(0).padStart(4)}s  rss ${per(s.rss, (x) => x.toFixed(0))} MB  cpu ${per(s.cpu, (x) => `${(x * 100).toFixed(0)}%`)} (waiting for a cpu ${per(s.waiting, (x) => `${(x * 100).toFixed(0)}%`)})  fds ${per(s.fds, String)} (sockets ${per(s.sockets, String)})  threads ${per(s.threads, String)}` +
      `  db rows ${s.rows} (+${s.growingRows} stream and audit)${s.connections === null ? "" : `  pg connections ${s.connections}`}  echo p99 ${s.echoP99.toFixed(1)} ms  load cpu ${(s.loadCpu * 100).toFixed(0)}% rss ${s.loadRss.toFixed(0)} MB`,
  );
}

// Warm-up, then the measured window.
await Bun.sleep(5_000);
log(`measuring for ${MINUTES} min (sample every ${SAMPLE_MS / 1000} s; rss/cpu/fds per replica)`);
measuring = true;
const t0 = now();
lastCpu = servers.map((s) => cpuSeconds(s.proc.pid));
lastWait = servers.map((s) => sched(s.proc.pid)[1]);
lastLoadCpu = cpuSeconds(process.pid);
lastAt = t0;
const end = t0 + MINUTES * 60_000;
while (now() < end) {
  await Bun.sleep(Math.min(SAMPLE_MS, end - now()));
  if (end - now() > 1000 || now() - lastAt > 5000) await sample(t0);
}
measuring = false;
const seconds = (now() - t0) / 1000;
running = false;

// --- verdict ------------------------------------------------------------------------------------

const targetEcho = M * KBPS * 1000;
const targetAppends = K * APPENDS;
const echoRate = tally.echoBytes / seconds;
const appendRate = tally.appends / seconds;
const deliveryRate = tally.delivered / seconds;
const connections = M + N + K;
const drops = tally.clientDrops + tally.hostDrops + tally.tailerDrops;
/** Growth over the last 4 minutes (the last 80 % of a shorter run; the second half of a soak). */
const span = values.soak ? seconds / 2 : Math.min(240, seconds * 0.8);
const base = samples.find((s) => s.t >= seconds - span) ?? samples[0]!;
const last = samples.at(-1)!;
const growth = (pick: (s: Sample) => number[]) => Math.max(...pick(last).map((v, i) => v / pick(base)[i]! - 1));
const rssGrowth = growth((s) => s.rss);
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const checks: [string, boolean, string][] = [
  ["terminal throughput ≥ 90 %", echoRate >= 0.9 * targetEcho, `echoed ${(echoRate / 1e6).toFixed(2)} of ${(targetEcho / 1e6).toFixed(2)} MB/s (${pct(echoRate / targetEcho)}; the load sent ${pct(tally.sentBytes / seconds / targetEcho)} of target)`],
  ["append throughput ≥ 90 %", appendRate >= 0.9 * targetAppends, `${appendRate.toFixed(0)} of ${targetAppends} appends/s (${pct(appendRate / targetAppends)}), ${tally.appendFailures} failed`],
  ["SSE delivery ≥ 90 %", deliveryRate >= 0.9 * targetAppends, `${deliveryRate.toFixed(0)} of ${targetAppends} events/s delivered (${pct(deliveryRate / targetAppends)})`],
  ["disconnects < 1 %", drops < 0.01 * connections, `${drops} of ${connections} connections (${tally.hostDrops} hosts, ${tally.clientDrops} clients, ${tally.tailerDrops} tailers; ${tally.attachFailures} re-attaches failed)`],
  ["p99 keystroke echo < 100 ms", echo.q(0.99) < 100, `echo p50 ${echo.q(0.5).toFixed(1)} ms, p99 ${echo.q(0.99).toFixed(1)} ms, max ${echo.max.toFixed(0)} ms (${echo.n} keystrokes)`],
  ["RSS growth ≤ 10 %", rssGrowth <= 0.1, `RSS ${base.rss.map((x) => x.toFixed(0)).join("/")} → ${last.rss.map((x) => x.toFixed(0)).join("/")} MB over the last ${(last.t - base.t).toFixed(0)} s (${pct(rssGrowth)})`],
];
log(`stream delivery: p50 ${delivery.q(0.5).toFixed(1)} ms, p99 ${delivery.q(0.99).toFixed(1)} ms, max ${delivery.max.toFixed(0)} ms (${delivery.n} events)`);
const cpuAvg = servers.map((_, i) => samples.reduce((a, s) => a + s.cpu[i]!, 0) / samples.length);
const waitAvg = servers.map((_, i) => samples.reduce((a, s) => a + s.waiting[i]!, 0) / samples.length);
log(`server cpu: mean ${cpuAvg.map((c) => `${(c * 100).toFixed(0)}%`).join("/")} of one core, main thread waiting for a cpu ${waitAvg.map((c) => `${(c * 100).toFixed(0)}%`).join("/")} of the time (load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}); load process cpu mean ${pct(samples.reduce((a, s) => a + s.loadCpu, 0) / samples.length)}`);
if (values.soak) {
  const slack = (a: number, b: number) => b <= a * 1.1 + 5;
  checks.push(
    ["fds flat (soak)", last.fds.every((v, i) => slack(base.fds[i]!, v)), `fds ${base.fds.join("/")} → ${last.fds.join("/")}`],
    ["sockets flat (soak)", last.sockets.every((v, i) => slack(base.sockets[i]!, v)), `sockets ${base.sockets.join("/")} → ${last.sockets.join("/")}`],
    ["threads flat (soak)", last.threads.every((v, i) => slack(base.threads[i]!, v)), `threads ${base.threads.join("/")} → ${last.threads.join("/")}`],
    ["DB rows flat (soak, stream and audit rows excepted)", slack(base.rows, last.rows), `rows ${base.rows} → ${last.rows} (stream and audit rows ${base.growingRows} → ${last.growingRows}, growing with use)`],
  );
  if (last.connections !== null) checks.push(["PG connections flat (soak)", slack(base.connections!, last.connections), `connections ${base.connections} → ${last.connections}`]);
}
let failed = 0;
for (const [what, ok, detail] of checks) {
  if (!ok) failed++;
  log(`${ok ? "PASS" : "FAIL"}  ${what}: ${detail}`);
}

// --- teardown -----------------------------------------------------------------------------------

for (const c of clients) c?.ws?.close();
for (const h of hosts) h?.agent.stop();
await Promise.race([Promise.all([...tailing, ...writing]), Bun.sleep(3000)]);
for (const s of servers) s.proc.kill("SIGTERM");
await Promise.all(servers.map((s) => s.proc.exited));
const errors = dirs.flatMap((d) => {
  try {
    return readFileSync(join(d, "log.jsonl"), "utf8").split("\n").filter((l) => /"level":"(error|fatal)"/.test(l));
  } catch {
    return [];
  }
});
if (errors.length) log(`server errors logged: ${errors.length}, first: ${errors[0]!.slice(0, 300)}`);
await admin?.close();
if (adminUrl && dbName) {
  const a = new SQL(adminUrl, { max: 1 });
  await a.unsafe(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await a.close();
}
for (const d of dirs) rmSync(d, { recursive: true, force: true });
log(failed ? `scale: FAIL (${failed} of ${checks.length} criteria)` : `scale: PASS (${checks.length} criteria)`);
process.exit(failed ? 1 : 0);
