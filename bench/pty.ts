// bench/pty.ts — terminal throughput vs the kernel PTY ceiling, in one run (goal: ratio ≥ 0.9,
// lost bytes 0). Warren: a terminal running `head -c N /dev/zero | base64 -w 76`, received in
// full by a WebSocket client (acking as the CLI does). Anchor: ../shared/anchors/pty/
// script-throughput.sh — util-linux script(1) relaying the same command through a PTY.
// Also: resident memory per idle terminal session.
// A round that makes no progress for STALL_S seconds, or ends without every byte, `exit` and
// close 1000, is a failure (exit code 1): the long run is the stall test issue 16 asked for.
// Usage: bun bench/pty.ts [--mb 100] [--rounds 3] [--idle 50] [--hog]
//   --hog   a busy process beside the server for the whole run (the contention that once stalled it)
//   long:   bun bench/pty.ts --rounds 50 --mb 100 --hog --anchor-rounds 3
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ACK_EVERY, encode, parseServer } from "../pty/protocol";
import { ROOT, start } from "./lib";

const { values } = parseArgs({ options: { mb: { type: "string", default: "100" }, rounds: { type: "string", default: "3" }, idle: { type: "string", default: "50" }, hog: { type: "boolean", default: false }, "anchor-rounds": { type: "string" } } });
const MB = Number(values.mb);
const ROUNDS = Number(values.rounds);
/** The anchor is steady; a long run need not repeat it every round. */
const ANCHOR_ROUNDS = Math.min(ROUNDS, Number(values["anchor-rounds"] ?? ROUNDS));
const STALL_S = 30;
const IDLE = Number(values.idle);
const anchor = join(ROOT, "../shared/anchors/pty/script-throughput.sh");
const cmd = `head -c ${MB * 1_000_000} /dev/zero | base64 -w 76`;
const expectedBytes = (() => {
  const encoded = Math.ceil((MB * 1_000_000) / 3) * 4;
  return encoded + Math.ceil(encoded / 76) * 2; // each line ends \r\n on a PTY (ONLCR)
})();

const dataDir = mkdtempSync(join(tmpdir(), "warren-bench-"));
const warren = await start([process.execPath, "cli/main.ts", "serve", "--port", "0", "--data-dir", dataDir, "--log-file", join(dataDir, "log.jsonl")], { pairing: true });
const pairing = /#token=(\S+)/.exec(warren.printed)![1]!;
const { sessionToken } = (await (await fetch(`${warren.url}/api/auth/pair`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: pairing, client: "cli" }) })).json()) as { sessionToken: string };
const headers = { authorization: `Bearer ${sessionToken}`, "content-type": "application/json" };

interface Round {
  bytes: number;
  seconds: number;
  code: number | null;
  closeCode: number;
  resets: number;
  stalled: boolean;
}

async function warrenRun(): Promise<Round> {
  const { id } = (await (await fetch(`${warren.url}/api/hosts/local/terminals`, { method: "POST", headers, body: JSON.stringify({ cmd: ["sh", "-c", cmd] }) })).json()) as { id: string };
  const ws = new WebSocket(`${warren.url.replace("http", "ws")}/api/hosts/local/terminals/${id}/attach`, { headers } as unknown as string[]);
  ws.binaryType = "arraybuffer";
  // Offsets are absolute (the hello's, then every byte), as the CLI keeps them: a program that
  // wrote before this client attached starts the count past 0.
  let offset = 0;
  let acked = 0;
  let bytes = 0;
  let code: number | null = null;
  let resets = 0;
  let progressAt = performance.now();
  let stalled = false;
  const t0 = performance.now();
  const closeCode = await new Promise<number>((resolve) => {
    const watchdog = setInterval(() => {
      if (performance.now() - progressAt < STALL_S * 1000) return;
      stalled = true;
      ws.close();
    }, 1000);
    ws.onmessage = (e) => {
      progressAt = performance.now();
      if (typeof e.data === "string") {
        const m = parseServer(e.data);
        if (m?.type === "hello" || m?.type === "reset") offset = acked = m.offset;
        if (m?.type === "reset") resets++;
        if (m?.type === "exit") code = m.code;
        return;
      }
      const n = (e.data as ArrayBuffer).byteLength;
      bytes += n;
      offset += n;
      if (offset - acked >= ACK_EVERY) {
        acked = offset;
        ws.send(encode({ type: "ack", offset }));
      }
    };
    ws.onclose = (e) => {
      clearInterval(watchdog);
      resolve(e.code);
    };
  });
  return { bytes, seconds: (performance.now() - t0) / 1000, code, closeCode, resets, stalled };
}

function anchorRun(): number {
  const p = Bun.spawnSync(["bash", anchor, String(MB), "1"], { stdout: "pipe" });
  const m = /script\(1\) pty: \d+ MB in [\d.]+ s = (\d+) MB\/s/.exec(p.stdout.toString());
  if (!m) throw new Error(`anchor printed: ${p.stdout}`);
  return Number(m[1]);
}

if (!existsSync(anchor)) throw new Error(`anchor missing: ${anchor}`);
console.log(`bench/pty: ${ROUNDS} rounds of ${MB} MB of base64 through a PTY; warren over WebSocket vs script(1)${values.hog ? ", with a busy process beside the server" : ""}`);
const hog = values.hog ? Bun.spawn(["sh", "-c", "while :; do :; done"], { stdout: "ignore" }) : null;
let ours = 0;
let theirs = 0;
let lost = 0;
const failures: string[] = [];
for (let round = 0; round < ROUNDS; round++) {
  const w = await warrenRun();
  const a = round < ANCHOR_ROUNDS ? anchorRun() : null;
  const mbps = w.bytes / 1e6 / w.seconds;
  lost += Math.max(0, expectedBytes - w.bytes);
  const wrong = [w.stalled && `no progress for ${STALL_S} s (stall)`, w.bytes !== expectedBytes && `${w.bytes} of ${expectedBytes} bytes`, w.code !== 0 && `exit ${w.code}`, w.closeCode !== 1000 && `close ${w.closeCode}`, w.resets > 0 && `${w.resets} resets`].filter(Boolean);
  if (wrong.length) failures.push(`round ${round + 1}: ${wrong.join(", ")}`);
  console.log(`  round ${round + 1}: warren ${mbps.toFixed(0)} MB/s (${w.bytes} bytes, exit ${w.code}, close ${w.closeCode})${a === null ? "" : ` | script(1) ${a} MB/s`}${wrong.length ? ` FAILED: ${wrong.join(", ")}` : ""}`);
  if (round < ANCHOR_ROUNDS) {
    ours += mbps;
    theirs += a!;
  }
}
hog?.kill("SIGKILL");
console.log(`throughput (first ${ANCHOR_ROUNDS} rounds): warren ${(ours / ANCHOR_ROUNDS).toFixed(0)} MB/s vs script(1) ${(theirs / ANCHOR_ROUNDS).toFixed(0)} MB/s | ratio ${(ours / theirs).toFixed(2)} | lost bytes ${lost}`);
console.log(`rounds: ${ROUNDS - failures.length} complete, ${failures.length} failed${failures.length ? `\n  ${failures.join("\n  ")}` : ""}`);

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
process.exitCode = failures.length ? 1 : 0;
