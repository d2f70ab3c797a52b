// What the abuse tests share: a seeded random source (the seed is printed on failure), the
// server's resident memory, and a /healthz watcher that proves the event loop stayed free.
import { readFileSync } from "node:fs";

/** Mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    bytes(n: number): Uint8Array<ArrayBuffer> {
      const b = new Uint8Array(new ArrayBuffer(n));
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
  };
}
export type Rng = ReturnType<typeof rng>;

/** The seed for a run: WARREN_FUZZ_SEED to replay one, else a fixed default. */
export const seedFrom = (fallback: number) => Number(process.env.WARREN_FUZZ_SEED ?? fallback);

/** Resident memory of a process, in MB. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
}

/** Waits (up to `ms`) for a process's memory to come back near `baseline`; returns the last reading. */
export async function settledRss(pid: number, baseline: number, slackMb: number, ms = 20_000): Promise<number> {
  const end = Date.now() + ms;
  let now = rssMb(pid);
  while (now > baseline + slackMb && Date.now() < end) {
    await Bun.sleep(250);
    now = rssMb(pid);
  }
  return now;
}

/**
 * Probes /healthz every `everyMs` while abuse runs. A probe slower than `limitMs` is repeated at
 * once: one slow answer on a shared 2-core machine is the scheduler, two in a row is a blocked
 * event loop. `stop()` resolves with the probes and the slow pairs.
 */
export function watchHealth(url: string, { everyMs = 100, limitMs = 100 } = {}) {
  const slowPairs: number[][] = [];
  let probes = 0;
  let running = true;
  const probe = async () => {
    const t0 = performance.now();
    const r = await fetch(`${url}/healthz`).catch(() => null);
    await r?.arrayBuffer();
    return { ok: r?.status === 200, ms: performance.now() - t0 };
  };
  const loop = (async () => {
    while (running) {
      const a = await probe();
      probes++;
      if (!a.ok || a.ms > limitMs) {
        const b = await probe();
        if (!b.ok || b.ms > limitMs) slowPairs.push([a.ok ? a.ms : -1, b.ok ? b.ms : -1]);
      }
      await Bun.sleep(everyMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { probes, slowPairs };
    },
  };
}

/** `[[[[…]]]]` and `{"a":{"a":…}}`, `depth` levels deep. */
export const nestedArrays = (depth: number) => "[".repeat(depth) + "]".repeat(depth);
export const nestedObjects = (depth: number) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
