// Where a `bun --cpu-prof` profile's time went: the top functions by self time (a native
// function named with its nearest JavaScript caller, since "values" alone says nothing), the same
// grouped by source (a package's files together), and by the innermost frame in Warren's own code,
// so one can see whether relay framing, Elysia, drizzle or JSON dominates, and on whose behalf.
//   bun bench/cpuprofile.ts <file.cpuprofile> [--top 25]
// Self time is counted in samples, not from timeDeltas: Bun's sampler takes samples only while
// JavaScript (or native code it called) runs, so the delta before a sample after an idle stretch
// would charge the idle time to whatever ran next.
import { resolve } from "node:path";
import { parseArgs } from "node:util";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  startTime: number;
  endTime: number;
}

const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "25" } } });
if (positionals.length !== 1) {
  console.error("usage: bun bench/cpuprofile.ts <file.cpuprofile> [--top N]");
  process.exit(2);
}
const profile = (await Bun.file(positionals[0]!).json()) as Profile;
const top = Number(values.top);
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, Node>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
const ancestors = function* (n: Node) {
  for (let p = parent.get(n.id); p; p = parent.get(p.id)) yield p;
};

/** The checkout the profiled server ran from: its files are named relative to it. */
const root = resolve(import.meta.dir, "..") + "/";

/** node_modules/<pkg>/… → the package; our own files relative to the checkout. */
function source(url: string): string {
  if (!url) return "(native)";
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  const path = url.replace(/^file:\/\//, "");
  return path.startsWith(root) ? path.slice(root.length) : path;
}
const where = (n: Node) => (n.callFrame.url ? `${source(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : "(native)");
const named = (n: Node) => `${n.callFrame.functionName || "(anonymous)"}  ${where(n)}`;
const ours = (n: Node) => /^(server|relay|cli|pty)\//.test(source(n.callFrame.url));

const selfByFn = new Map<string, number>();
const selfBySource = new Map<string, number>();
const byOurs = new Map<string, number>();
const add = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
for (const id of profile.samples) {
  const n = byId.get(id)!;
  let fn = named(n);
  if (!n.callFrame.url) {
    const caller = [...ancestors(n)].find((a) => a.callFrame.url);
    if (caller) fn += `  ← ${named(caller)}`;
  }
  add(selfByFn, fn);
  add(selfBySource, source(n.callFrame.url));
  const mine = ours(n) ? n : [...ancestors(n)].find(ours);
  add(byOurs, mine ? named(mine) : "(no Warren frame: the event loop, Bun's internals)");
}

const total = profile.samples.length;
const wall = (profile.endTime - profile.startTime) / 1e6;
const pct = (n: number) => `${((100 * n) / total).toFixed(1).padStart(5)} %`;
console.log(`${total} samples over ${wall.toFixed(1)} s of wall time`);
console.log(`\ntop ${top} functions by self time (native functions are the JS builtins and Bun APIs named)`);
for (const [k, v] of [...selfByFn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
console.log(`\nself time by source (packages, our files; (native) is code with no script)`);
for (const [k, v] of [...selfBySource].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
console.log(`\non whose behalf: the innermost Warren function on each sample's stack`);
for (const [k, v] of [...byOurs].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
