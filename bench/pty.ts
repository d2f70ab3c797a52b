// bench/pty.ts — terminal throughput vs the kernel PTY ceiling, in one run (goal: ratio ≥ 0.9,
// lost bytes 0). Warren: a terminal running `head -c N /dev/zero | base64 -w 76`, received in
// full by a WebSocket client (acking as the CLI does). Anchor: ../shared/anchors/pty/
// script-throughput.sh — util-linux script(1) relaying the same command through a PTY.
// Also: resident memory per idle terminal session.
// Usage: bun bench/pty.ts [--mb 100] [--rounds 3] [--idle 50]
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ACK_EVERY, encode, parseServer } from "../pty/protocol";
import { ROOT, start } from "./lib";

const { values } = parseArgs({ options: { mb: { type: "string", default: "100" }, rounds: { type: "string", default: "3" }, idle: { type: "string", default: "50" } } });
const MB = Number(values.mb);
const ROUNDS = Number(values.rounds);
const IDLE = Number(values.idle);
const anchor = join(ROOT, "../shared/anchors/pty/script-throughput.sh");
const cmd = `head -c ${MB * 1_000_000} /dev/zero | base64 -w 76`;
const expectedBytes = (() => {
  const encoded = Math.ceil((MB * 1_000_000) / 3) * 4;
  return encoded + Math.ceil(encoded / 76) * 2; // each line ends \r\n on a PTY (ONLCR)
})();

const dataDir = mkdtempSync(join(tmpdir(), "warren-bench-"));
const warren = await start([process.execPath, "cli/main.ts", "serve", "--port", "0", "--data-dir", dataDir, "--log-file", join(dataDir, "log.jsonl")]);
const pairing = /#token=(\S+)/.exec(warren.printed)![1]!;
const { sessionToken } = (await (await fetch(`${warren.url}/api/auth/pair`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: pairing, client: "cli" }) })).json()) as { sessionToken: string };
const headers = { authorization: `Bearer ${sessionToken}`, "content-type": "application/json" };

async function warrenRun(): Promise<{ bytes: number; seconds: number; code: number | null }> {
  const { id } = (await (await fetch(`${warren.url}/api/hosts/local/terminals`, { method: "POST", headers, body: JSON.stringify({ cmd: ["sh", "-c", cmd] }) })).json()) as { id: string };
  const ws = new WebSocket(`${warren.url.replace("http", "ws")}/api/hosts/local/terminals/${id}/attach`, { headers } as unknown as string[]);
  ws.binaryType = "arraybuffer";
  let bytes = 0;
  let acked = 0;
  let code: number | null = null;
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        const m = parseServer(e.data);
        if (m?.type === "exit") code = m.code;
        return;
      }
      bytes += (e.data as ArrayBuffer).byteLength;
      if (bytes - acked >= ACK_EVERY) {
        acked = bytes;
        ws.send(encode({ type: "ack", offset: bytes }));
      }
    };
    ws.onclose = () => resolve();
  });
  return { bytes, seconds: (performance.now() - t0) / 1000, code };
}

function anchorRun(): number {
  const p = Bun.spawnSync(["bash", anchor, String(MB), "1"], { stdout: "pipe" });
  const m = /script\(1\) pty: \d+ MB in [\d.]+ s = (\d+) MB\/s/.exec(p.stdout.toString());
  if (!m) throw new Error(`anchor printed: ${p.stdout}`);
  return Number(m[1]);
}

if (!existsSync(anchor)) throw new Error(`anchor missing: ${anchor}`);
console.log(`bench/pty: ${ROUNDS} rounds of ${MB} MB of base64 through a PTY; warren over WebSocket vs script(1)`);
let ours = 0;
let theirs = 0;
let lost = 0;
for (let round = 0; round < ROUNDS; round++) {
  const w = await warrenRun();
  const a = anchorRun();
  const mbps = w.bytes / 1e6 / w.seconds;
  lost += Math.max(0, expectedBytes - w.bytes);
  console.log(`  round ${round + 1}: warren ${mbps.toFixed(0)} MB/s (${w.bytes} bytes, exit ${w.code}) | script(1) ${a} MB/s`);
  ours += mbps;
  theirs += a;
}
console.log(`throughput: warren ${(ours / ROUNDS).toFixed(0)} MB/s vs script(1) ${(theirs / ROUNDS).toFixed(0)} MB/s | ratio ${(ours / theirs).toFixed(2)} | lost bytes ${lost}`);

const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${warren.proc.pid}/status`, "utf8"))![1]) * 1024;
Bun.gc(true);
await Bun.sleep(500);
const before = rss();
for (let i = 0; i < IDLE; i++) await fetch(`${warren.url}/api/hosts/local/terminals`, { method: "POST", headers, body: JSON.stringify({ cmd: ["sleep", "600"] }) });
await Bun.sleep(3000); // past the start delay: every program is running
console.log(`idle sessions: ${IDLE} → ${((rss() - before) / IDLE / 1024).toFixed(0)} KiB resident each (the 1 MiB ring is allocated up front)`);
warren.proc.kill("SIGTERM");
await warren.proc.exited;
rmSync(dataDir, { recursive: true, force: true });
