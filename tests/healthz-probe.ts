// A /healthz prober in a process of its own (not a test file): the test process is busy running
// the agents and the proxy, and timing from there measured its own event loop as much as the
// server's. Reads "<url> <server pid>" lines on stdin (the server to probe; it changes on a
// restart; "-": none, while one stops), sends GET /healthz on a new connection every ~50 ms, and
// prints one JSON line per sample: {ms, serverWaitMs, probeWaitMs, status}, status 0 with
// `error` when no answer came.
//
// The waits are what the box's scheduler accounts for: how long, during this request, the
// server's main thread and this probe's sat runnable without a CPU (/proc/…/schedstat, Linux; 0
// elsewhere). The test takes the larger of the two off `ms`, never their sum (they may overlap),
// so what remains never hides time the server spent working: it is what the server did, on a
// 2-core box shared with other suites. The request is raw HTTP over Bun.connect, whose callbacks
// run on this process's main thread (fetch has a thread of its own, which schedstat of the main
// thread would not see).
import { readFileSync } from "node:fs";
import { setPriority } from "node:os";

// The instrument should not queue behind the box's other work; where raising its priority is not
// permitted it runs as it is, and its own waits are accounted for as above.
try {
  setPriority(-10);
} catch {}

let target = null as { host: string; port: number; pid: number } | null;
(async () => {
  for await (const line of console) {
    const [url, pid] = line.trim().split(" ");
    if (url === "-") target = null;
    if (!url || url === "-") continue;
    const u = new URL(url);
    target = { host: u.hostname, port: Number(u.port), pid: Number(pid) };
  }
  process.exit(0);
})();

/** Nanoseconds a thread has waited on a run queue, or 0 where /proc does not say. */
function waited(pid: number, tid = pid): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1]);
  } catch {
    return 0;
  }
}

function healthz(t: { host: string; port: number }): Promise<number> {
  return new Promise((resolve, reject) => {
    let head = "";
    const timer = setTimeout(() => reject(new Error("no answer in 5 s")), 5_000);
    Bun.connect({
      hostname: t.host,
      port: t.port,
      socket: {
        open: (s) => void s.write(`GET /healthz HTTP/1.1\r\nhost: ${t.host}:${t.port}\r\nconnection: close\r\n\r\n`),
        data: (_s, d) => void (head += d.toString("latin1")),
        close: () => {
          clearTimeout(timer);
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]);
          if (status) resolve(status);
          else reject(new Error("no HTTP answer"));
        },
        error: (_s, e) => reject(e),
        connectError: (_s, e) => reject(e),
      },
    }).catch(reject);
  });
}

for (;;) {
  const t = target;
  if (t) {
    const w0 = [waited(t.pid), waited(process.pid)];
    const started = performance.now();
    try {
      const status = await healthz(t);
      const ms = performance.now() - started;
      const round = (n: number) => Math.round(n * 10) / 10;
      console.log(JSON.stringify({ ms: round(ms), serverWaitMs: round((waited(t.pid) - w0[0]!) / 1e6), probeWaitMs: round((waited(process.pid) - w0[1]!) / 1e6), status }));
    } catch (e) {
      if (target === t) console.log(JSON.stringify({ ms: performance.now() - started, serverWaitMs: 0, probeWaitMs: 0, status: 0, error: String(e) }));
    }
  }
  await Bun.sleep(50);
}
