// What every bench shares: starting servers pinned to a core, closed-loop load from the other
// core (wrk when installed, else load.ts), and the server's own CPU time per request from /proc.
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..");
const wrk = Bun.which("wrk");
const taskset = Bun.which("taskset");
export const loader = wrk ? "wrk" : "bench/load.ts";
/** Server on core 0, load on core 1 (when taskset exists): the two compete less, figures steady. */
const onCore = (core: number, cmd: string[]) => (taskset ? [taskset, "-c", String(core), ...cmd] : cmd);

export interface Started {
  proc: Bun.Subprocess;
  url: string;
  /** Everything printed on stdout until the listening line. */
  printed: string;
}

/** `pairing`: a fresh server; wait for the owner's pairing link too (it may follow the listening line). */
export async function start(cmd: string[], o: { pairing?: boolean } = {}): Promise<Started> {
  const proc = Bun.spawn(onCore(0, cmd), { cwd: ROOT, stdout: "pipe", stderr: "ignore" });
  const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!/listening on (\S+)[^]*\n/.test(text) || ((o.pairing || text.includes("first start")) && !/#token=\S+\n/.test(text))) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd.join(" ")} exited: ${text}`);
    text += new TextDecoder().decode(value);
  }
  return { proc, url: /listening on (\S+)/.exec(text)![1]!, printed: text };
}

export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks of 10 ms
}

/** Requests completed in `seconds` against url with the given headers. */
export async function load(url: string, seconds: number, connections: number, headers: Record<string, string> = {}): Promise<number> {
  if (wrk) {
    const h = Object.entries(headers).flatMap(([k, v]) => ["-H", `${k}: ${v}`]);
    const p = Bun.spawnSync(onCore(1, [wrk, "-t1", `-c${connections}`, `-d${seconds}s`, ...h, url]), { stdout: "pipe" });
    return Number(/Requests\/sec:\s+([\d.]+)/.exec(p.stdout.toString())?.[1] ?? 0) * seconds;
  }
  const p = Bun.spawnSync(onCore(1, [process.execPath, join(import.meta.dir, "load.ts"), url, String(seconds), String(connections), JSON.stringify(headers)]), { stdout: "pipe" });
  return (JSON.parse(p.stdout.toString()) as { requests: number }).requests;
}

export interface Tally {
  requests: number;
  cpu: number;
}

/** Runs `rounds` alternating measurements of each case; returns the totals per case. */
export async function alternate(
  cases: Record<string, { pid: number; url: string; headers?: Record<string, string> }>,
  o: { rounds: number; seconds: number; connections: number },
): Promise<Record<string, Tally>> {
  const tally: Record<string, Tally> = {};
  for (const c of Object.values(cases)) await load(c.url, 1, o.connections, c.headers); // warm-up
  for (let round = 0; round < o.rounds; round++) {
    for (const [name, c] of Object.entries(cases)) {
      const cpu0 = cpuSeconds(c.pid);
      const requests = await load(c.url, o.seconds, o.connections, c.headers);
      const t = (tally[name] ??= { requests: 0, cpu: 0 });
      t.requests += requests;
      t.cpu += cpuSeconds(c.pid) - cpu0;
    }
  }
  return tally;
}

export const rps = (t: Tally, o: { rounds: number; seconds: number }) => t.requests / (o.rounds * o.seconds);
export const cpuUs = (t: Tally) => (t.cpu / t.requests) * 1e6;

/** The owner's session and an API key for their org, from the pairing link a fresh server printed. */
export async function ownerCredentials(w: Started): Promise<{ session: string; key: string }> {
  const pairing = /#token=(\S+)/.exec(w.printed)![1]!;
  const paired = await fetch(`${w.url}/api/auth/pair`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: pairing, client: "cli" }),
  });
  const { sessionToken: session } = (await paired.json()) as { sessionToken: string };
  const asOwner = { authorization: `Bearer ${session}` };
  const { organizations } = (await (await fetch(`${w.url}/api/orgs`, { headers: asOwner })).json()) as { organizations: { id: string }[] };
  const created = await fetch(`${w.url}/api/api-keys`, {
    method: "POST",
    headers: { ...asOwner, "content-type": "application/json" },
    body: JSON.stringify({ name: "bench", organizationId: organizations[0]!.id }),
  });
  const { key } = (await created.json()) as { key: string };
  return { session, key };
}
