// bench/relay.ts — the relay against its anchor, in one run (goal: relay/ssh ≥ 1.0).
// A 200 MB HTTP download (curl) from an origin on loopback: direct, through an OpenSSH reverse
// tunnel (../shared/anchors/relay/ssh-tunnel.sh, aes128-gcm) and through Warren
// (/api/hosts/:id/ports/:port/… → relay → `warren host start --expose`); then 4 × 50 MB at once
// through each tunnel; then terminal throughput through the relay vs the server's local host.
// The server is pinned to core 0 and curl to core 1 when taskset exists (bench/lib.ts).
// Usage: bun bench/relay.ts [--mb 200] [--reps 3] [--term-mb 50]
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ACK_EVERY, encode, parseServer } from "../pty/protocol";
import { cpuSeconds, ROOT, start } from "./lib";

const { values } = parseArgs({ options: { mb: { type: "string", default: "200" }, reps: { type: "string", default: "3" }, "term-mb": { type: "string", default: "50" } } });
const MB = Number(values.mb);
const REPS = Number(values.reps);
const TERM_MB = Number(values["term-mb"]);
const anchor = join(ROOT, "../shared/anchors/relay/ssh-tunnel.sh");
const taskset = Bun.which("taskset");
const onCore1 = (cmd: string[]) => (taskset ? [taskset, "-c", "1", ...cmd] : cmd);

// The origin: one buffer, served from memory, so only the path differs between cases.
const payload = new Uint8Array(Math.max(MB, 50) * 1_000_000).fill(0x61);
const origin = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (req) => new Response(payload.subarray(0, Number(new URL(req.url).searchParams.get("n") ?? payload.length))),
});

const dataDir = mkdtempSync(join(tmpdir(), "warren-bench-"));
const hostHome = mkdtempSync(join(tmpdir(), "warren-bench-host-"));
// A bootstrap token we know, rather than parsing the printed pairing link.
const pairing = randomBytes(24).toString("base64url");
const warren = await start([process.execPath, "cli/main.ts", "serve", "--port", "0", "--data-dir", dataDir, "--log-file", join(dataDir, "log.jsonl"), "--bootstrap-token", pairing]);
const { sessionToken } = (await (await fetch(`${warren.url}/api/auth/pair`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: pairing, client: "cli" }) })).json()) as { sessionToken: string };
const auth = { authorization: `Bearer ${sessionToken}` };
const org = ((await (await fetch(`${warren.url}/api/auth/session`, { headers: auth })).json()) as { activeOrganizationId: string }).activeOrganizationId;
const { key } = (await (await fetch(`${warren.url}/api/api-keys`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ name: "bench", organizationId: org }) })).json()) as { key: string };

const agent = Bun.spawn([process.execPath, "cli/main.ts", "host", "start", "--server", warren.url, "--name", "bench", "--expose", String(origin.port)], {
  cwd: ROOT,
  env: { ...process.env, WARREN_HOME: hostHome, HOME: hostHome, WARREN_API_KEY: key },
  stdout: "pipe",
  stderr: "pipe",
});
{
  const reader = (agent.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("connected:")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the host agent exited: ${text}${await new Response(agent.stderr).text()}`);
    text += new TextDecoder().decode(value);
  }
}
const hostId = ((await (await fetch(`${warren.url}/api/hosts`, { headers: auth })).json()) as { hosts: { id: string; name: string }[] }).hosts.find((h) => h.name === "bench")!.id;

const tunnelPort = await (async () => {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
})();
const ssh = Bun.spawnSync(["bash", anchor, "start", String(origin.port), String(tunnelPort), "2299"], { stdout: "pipe", stderr: "pipe" });
if (!ssh.stdout.toString().includes("ready")) throw new Error(`ssh tunnel: ${ssh.stderr}`);

const paths: Record<string, { url: (n: number) => string; headers: Record<string, string> }> = {
  direct: { url: (n) => `http://127.0.0.1:${origin.port}/?n=${n}`, headers: {} },
  ssh: { url: (n) => `http://127.0.0.1:${tunnelPort}/?n=${n}`, headers: {} },
  warren: { url: (n) => `${warren.url}/api/hosts/${hostId}/ports/${origin.port}/?n=${n}`, headers: auth },
};

/** One curl download; MB/s, and the bytes it got (must be all of them). */
const progress = (line: string) => process.stderr.write(`${line}\n`);

async function curl(url: string, headers: Record<string, string>): Promise<{ bytes: number; seconds: number }> {
  const h = Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
  const p = Bun.spawn(onCore1(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download} %{time_total}", ...h, url]), { stdout: "pipe" });
  const [bytes, seconds] = (await new Response(p.stdout).text()).split(" ").map(Number);
  return { bytes: bytes!, seconds: seconds! };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Record<string, number[]> = { direct: [], ssh: [], warren: [] };
/** CPU seconds the server and the agent spent per GB relayed (where the relay's cost goes). */
const cpu = { server: 0, agent: 0, bytes: 0 };
const concurrent: Record<string, number[]> = { ssh: [], warren: [] };
let incomplete = 0;
const n = MB * 1_000_000;
for (const p of Object.values(paths)) await curl(p.url(10_000_000), p.headers); // warm-up
for (let rep = 0; rep < REPS; rep++) {
  for (const [name, p] of Object.entries(paths)) {
    const c0 = [cpuSeconds(warren.proc.pid), cpuSeconds(agent.pid)];
    const r = await curl(p.url(n), p.headers);
    progress(`rep ${rep + 1}: ${name} ${(r.bytes / 1e6 / r.seconds).toFixed(0)} MB/s`);
    if (name === "warren") {
      cpu.server += cpuSeconds(warren.proc.pid) - c0[0]!;
      cpu.agent += cpuSeconds(agent.pid) - c0[1]!;
      cpu.bytes += r.bytes;
    }
    if (r.bytes !== n) incomplete++;
    results[name]!.push(r.bytes / 1e6 / r.seconds);
  }
  for (const name of ["ssh", "warren"] as const) {
    const p = paths[name]!;
    const t0 = performance.now();
    const all = await Promise.all(Array.from({ length: 4 }, () => curl(p.url(50_000_000), p.headers)));
    const total = all.reduce((s, r) => s + r.bytes, 0);
    if (total !== 200_000_000) incomplete++;
    concurrent[name]!.push(total / 1e6 / ((performance.now() - t0) / 1000));
    progress(`rep ${rep + 1}: 4 × 50 MB ${name} ${concurrent[name]!.at(-1)!.toFixed(0)} MB/s`);
  }
}

// Terminal throughput: the same command on the local host and on the relayed host.
const termCmd = `head -c ${TERM_MB * 1_000_000} /dev/zero | base64 -w 76`;
async function terminal(host: string): Promise<number> {
  const { id } = (await (await fetch(`${warren.url}/api/hosts/${host}/terminals`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ cmd: ["sh", "-c", termCmd] }) })).json()) as { id: string };
  const ws = new WebSocket(`${warren.url.replace("http", "ws")}/api/hosts/${host}/terminals/${id}/attach`, { headers: auth } as unknown as string[]);
  ws.binaryType = "arraybuffer";
  let bytes = 0;
  let offset = 0;
  let acked = 0;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        // A client that fell out of the ring is told where the stream resumes; acks follow that.
        const m = parseServer(e.data);
        if (m?.type === "hello" || m?.type === "reset") offset = acked = m.offset;
        return;
      }
      bytes += (e.data as ArrayBuffer).byteLength;
      offset += (e.data as ArrayBuffer).byteLength;
      if (offset - acked >= ACK_EVERY) {
        acked = offset;
        ws.send(encode({ type: "ack", offset }));
      }
    };
    ws.onclose = () => resolve();
  });
  return bytes / 1e6 / ((performance.now() - t0) / 1000);
}
const term: Record<string, number[]> = { local: [], relay: [] };
for (let rep = 0; rep < REPS; rep++) {
  term.local!.push(await terminal("local"));
  term.relay!.push(await terminal(hostId));
  progress(`rep ${rep + 1}: terminal local ${term.local!.at(-1)!.toFixed(1)} MB/s, relay ${term.relay!.at(-1)!.toFixed(1)} MB/s`);
}

Bun.spawnSync(["bash", anchor, "stop"]);
agent.kill("SIGTERM");
await agent.exited;
warren.proc.kill("SIGTERM");
await warren.proc.exited;
origin.stop(true);
rmSync(dataDir, { recursive: true, force: true });
rmSync(hostHome, { recursive: true, force: true });

const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(" / ");
console.log(`${MB} MB download over loopback, MB/s (${REPS} reps, median):`);
for (const [name, xs] of Object.entries(results)) console.log(`  ${name.padEnd(8)} ${fmt(xs).padEnd(24)} median ${median(xs).toFixed(0)}`);
console.log(`4 × 50 MB at once, aggregate MB/s:`);
for (const [name, xs] of Object.entries(concurrent)) console.log(`  ${name.padEnd(8)} ${fmt(xs).padEnd(24)} median ${median(xs).toFixed(0)}`);
console.log(`terminal, ${TERM_MB} MB of base64, MB/s:`);
for (const [name, xs] of Object.entries(term)) console.log(`  ${name.padEnd(8)} ${fmt(xs).padEnd(24)} median ${median(xs).toFixed(1)}`);
console.log(`CPU per GB through the relay: server ${((cpu.server / cpu.bytes) * 1e9).toFixed(2)} s, host agent ${((cpu.agent / cpu.bytes) * 1e9).toFixed(2)} s`);
console.log(`incomplete transfers: ${incomplete} (must be 0)`);
console.log(
  `RESULT ${JSON.stringify({
    relayVsSsh: +(median(results.warren!) / median(results.ssh!)).toFixed(2),
    relayVsDirect: +(median(results.warren!) / median(results.direct!)).toFixed(2),
    concurrentRelayVsSsh: +(median(concurrent.warren!) / median(concurrent.ssh!)).toFixed(2),
    terminalRelayVsLocal: +(median(term.relay!) / median(term.local!)).toFixed(2),
    incomplete,
  })}`,
);
