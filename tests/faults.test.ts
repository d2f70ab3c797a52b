// Fault injection with real processes (issue 18): Postgres restarted under load, a full disk under
// the SQLite data dir, kill -9 of one replica. In each, every acknowledged (2xx) append must be
// there afterwards, failures must be clean (503/507 with Retry-After, never a 500 or a hang), and
// the server must recover by itself, without a restart.
//
// These need root (a Postgres cluster of our own run as the postgres OS user; mount a tmpfs) and
// skip with a note otherwise. The Postgres ones run in the Postgres pass of the suite
// (WARREN_TEST_DATABASE_URL set), the disk one in the SQLite pass; none touches the shared
// database server — the restart test starts and restarts a throwaway cluster of its own.
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, openSync, readdirSync, rmSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { api } from "./auth-helpers";
import { DIALECT, ROOT, cleanup, query, spawnWarren, startServer, tempDir, waitUntil, type TestServer } from "./harness";
import { attach } from "./term-helpers";
import { streamServer, type StreamServer } from "./stream-helpers";

/** Loads still running when a test fails: stopped before the servers go, or their retries would hit whatever takes those ports next. */
const loads = new Set<{ stop(): Promise<void> }>();
afterAll(async () => {
  await Promise.all([...loads].map((l) => l.stop()));
  await cleanup();
});

const text = { "content-type": "text/plain" };
const isRoot = process.getuid?.() === 0;

function pgBin(): string | null {
  try {
    const versions = readdirSync("/usr/lib/postgresql").sort((a, b) => Number(b) - Number(a));
    for (const v of versions) {
      const bin = `/usr/lib/postgresql/${v}/bin`;
      if (["postgres", "initdb", "pg_ctl"].every((f) => existsSync(join(bin, f)))) return bin;
    }
  } catch {
    // No Postgres installed.
  }
  return null;
}

const hasPostgresUser = () => Bun.spawnSync(["id", "postgres"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;

function skipNote(what: string, why: string | null): boolean {
  if (why) console.warn(`[faults] skipped: ${what} — ${why}`);
  return why !== null;
}

/** Reads a whole stream from the start, page by page. */
async function readAll(s: (path: string, init?: RequestInit) => Promise<Response>, path: string): Promise<string> {
  let out = "";
  let offset = "-1";
  for (let i = 0; i < 10_000; i++) {
    const r = await s(`${path}?offset=${offset}`);
    expect(r.status).toBe(200);
    out += await r.text();
    offset = r.headers.get("stream-next-offset")!;
    if (r.headers.get("stream-up-to-date") === "true") break;
  }
  return out;
}

interface Ack {
  end: number;
  payload: string;
}

/**
 * Writers appending `w<n>-<i>;` to one stream as fast as they are answered, each request bounded
 * (a hang is a failure, not a wait). They record every status, every acknowledged append, and
 * back off 100 ms after a refusal, as a client honouring a short Retry-After would.
 */
function writers(targets: ((path: string, init?: RequestInit) => Promise<Response>)[], path: string, perTarget: number, boundMs = 20_000) {
  const acked: Ack[] = [];
  const statuses = new Map<string, number>();
  const refusals: { status: number; retryAfter: string | null; code: string }[] = [];
  let slowest = 0;
  let stop = false;
  let hung = 0;
  const count = (k: string) => statuses.set(k, (statuses.get(k) ?? 0) + 1);
  const one = async (s: (typeof targets)[number], name: string) => {
    for (let i = 0; !stop; i++) {
      const payload = `${name}-${String(i).padStart(6, "0")};`;
      const started = Date.now();
      let r: Response;
      try {
        r = await s(path, { method: "POST", headers: text, body: payload, signal: AbortSignal.timeout(boundMs) });
      } catch (e) {
        if ((e as Error).name === "TimeoutError") hung++;
        count("error");
        await Bun.sleep(100);
        continue;
      }
      slowest = Math.max(slowest, Date.now() - started);
      count(String(r.status));
      if (r.status === 204) acked.push({ end: Number(r.headers.get("stream-next-offset")!.split("_")[1]), payload });
      else {
        const body = (await r.json().catch(() => ({}))) as { error?: { code?: string } };
        refusals.push({ status: r.status, retryAfter: r.headers.get("retry-after"), code: body.error?.code ?? "" });
        await Bun.sleep(100);
      }
    }
  };
  const running = targets.flatMap((s, t) => Array.from({ length: perTarget }, (_, w) => one(s, `t${t}w${w}`)));
  const load = {
    acked,
    statuses,
    refusals,
    get slowest() {
      return slowest;
    },
    get hung() {
      return hung;
    },
    async stop() {
      stop = true;
      await Promise.all(running);
      loads.delete(load);
    },
  };
  loads.add(load);
  return load;
}

/** Every acknowledged append is in the stream at the offset it was acknowledged with; the stream is whole appends only. */
function expectAllAcked(content: string, acked: Ack[]) {
  const missing = acked.filter((a) => content.slice(a.end - a.payload.length, a.end) !== a.payload);
  expect(missing).toEqual([]);
  expect(content.split(";").filter(Boolean).every((s) => /^t\d+w\d+-\d{6}$/.test(s))).toBe(true);
}

const as = (server: TestServer, key: string) => (p: string, init: RequestInit = {}) =>
  fetch(`${server.url}/v1/stream/${p}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) } });

// --- Postgres restarted under load -------------------------------------------------------------

/** A throwaway Postgres cluster of this test's own, driven by .ci/postgres.sh. */
class Cluster {
  readonly dir = `/tmp/warren-fault-pg-${randomBytes(4).toString("hex")}`;
  port = 0;
  url = "";
  private basePort = 56000 + Math.floor(Math.random() * 2000);

  private async run(action: "start" | "stop"): Promise<string> {
    const p = Bun.spawn(["bash", join(ROOT, ".ci/postgres.sh"), action], {
      env: { ...process.env, WARREN_CI_PGDATA: this.dir, WARREN_CI_PGPORT: String(this.port || this.basePort), WARREN_CI_PGDB: "warren_faults" },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0) throw new Error(`postgres.sh ${action} failed (${code}):\n${err}`);
    return out.trim().split("\n").at(-1) ?? "";
  }

  async start(): Promise<void> {
    const url = await this.run("start");
    if (this.url && url !== this.url) throw new Error(`the cluster came back on another address: ${url}, was ${this.url}`);
    this.url = url;
    this.port = Number(new URL(url).port);
  }

  stop = () => this.run("stop");

  async destroy(): Promise<void> {
    await this.run("stop").catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const pgRestartSkip =
  DIALECT !== "pg"
    ? "runs in the Postgres pass of the suite (WARREN_TEST_DATABASE_URL set)"
    : !isRoot
      ? "needs root to run a throwaway Postgres cluster as the postgres OS user"
      : !pgBin()
        ? "no Postgres server binaries under /usr/lib/postgresql/*/bin"
        : !hasPostgresUser()
          ? "no postgres OS user"
          : null;

describe.skipIf(skipNote("Postgres restart under load", pgRestartSkip))("Postgres restarted under load", () => {
  const cluster = new Cluster();
  afterAll(() => cluster.destroy());

  test("writers get 503 + Retry-After while it is down (no hang, no 500), everything recovers by itself, nothing acknowledged is lost; LISTEN comes back on the other replica", async () => {
    await cluster.start();
    const a = await streamServer({ databaseUrl: cluster.url });
    const b = await startServer({ databaseUrl: cluster.url, args: ["--long-poll-timeout", "500ms"] });
    const onA = as(a.server, a.key);
    const onB = as(b, a.key);
    const owner = api(a.server, a.session);
    expect((await onA("load", { method: "PUT", headers: text })).status).toBe(201);
    expect((await onA("live", { method: "PUT", headers: text })).status).toBe(201);

    const load = writers([onA, onB], "load", 4);
    await waitUntil(() => load.acked.length >= 200, 30_000, "200 acknowledged appends before the restart");

    // --- down ---
    await cluster.stop();
    const ackedBefore = load.acked.length;
    const down = Date.now();
    for (const s of [a.server, b]) {
      const h = await fetch(`${s.url}/healthz`, { signal: AbortSignal.timeout(10_000) });
      expect(h.status).toBe(503);
      expect(h.headers.get("retry-after")).toMatch(/^\d+$/);
    }
    // Other routes answer 503 cleanly too: a signed-in API call, a stream read, a credential check.
    // (GET /api/auth/session needs nothing but the credential, which A may have checked within
    // the resolver's few cached seconds: 200 from that, or 503, but never anything else.)
    expect([200, 503]).toContain((await owner("GET", "/api/auth/session")).status);
    for (const r of [
      await owner("GET", "/api/api-keys"),
      await onA("load"),
      await fetch(`${b.url}/api/orgs`, { headers: { authorization: `Bearer ${a.session}` } }),
    ]) {
      expect(r.status).toBe(503);
      expect(r.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(((await r.json()) as { error: { code: string } }).error.code).toMatch(/^database_/);
    }
    await waitUntil(() => load.refusals.length >= 20, 10_000, "writers to be refused while Postgres is down");
    await Bun.sleep(Math.max(0, 3000 - (Date.now() - down)));

    // --- back ---
    await cluster.start();
    const back = Date.now();
    await waitUntil(async () => (await fetch(`${a.server.url}/healthz`)).status === 200 && (await fetch(`${b.url}/healthz`)).status === 200, 30_000, "/healthz 200 on both replicas");
    const healthyAfter = Date.now() - back;
    await waitUntil(() => load.acked.length >= ackedBefore + 200, 30_000, "200 more acknowledged appends after the restart");

    // A live reader on B, opened now, is woken by appends on A: B's LISTEN connection is back.
    const sse = await onB("live?offset=now&live=sse");
    expect(sse.status).toBe(200);
    const reader = sse.body!.getReader();
    let seen = "";
    const got = (async () => {
      const decoder = new TextDecoder();
      while (!seen.includes("marker")) {
        const r = await reader.read();
        if (r.done) break;
        seen += decoder.decode(r.value);
      }
    })();
    const markerStart = Date.now();
    for (let i = 0; !seen.includes("marker") && Date.now() - markerStart < 20_000; i++) {
      expect((await onA("live", { method: "POST", headers: text, body: `marker${i};` })).status).toBe(204);
      await Promise.race([got, Bun.sleep(500)]);
    }
    expect(seen).toContain("data:marker");
    await reader.cancel();
    const listenAfter = Date.now() - markerStart;

    // The dashboard's channel too (its own LISTEN): a key made on A is a "keys" notice on B. A
    // stream that B ends because its LISTEN came back is opened again, as EventSource would.
    const org = ((await (await owner("GET", "/api/auth/session")).json()) as { activeOrganizationId: string }).activeOrganizationId;
    let heard = false;
    for (let i = 0; !heard && Date.now() - markerStart < 30_000; i++) {
      const events = await fetch(`${b.url}/api/events`, { headers: { authorization: `Bearer ${a.session}` } });
      expect(events.status).toBe(200);
      const r = events.body!.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      const until = async (pred: () => boolean, ms: number) => {
        const end = Date.now() + ms;
        while (!pred() && Date.now() < end) {
          const next = await Promise.race([r.read(), Bun.sleep(end - Date.now()).then(() => null)]);
          if (!next || next.done) return;
          buf += decoder.decode(next.value);
        }
      };
      await until(() => buf.includes("event: ready"), 5000);
      expect((await owner("POST", "/api/api-keys", { name: `after-restart-${i}`, organizationId: org })).status).toBe(201);
      await until(() => buf.includes('"topic":"keys"'), 2000);
      heard = buf.includes('"topic":"keys"');
      await r.cancel().catch(() => {});
    }
    expect(heard).toBe(true);

    await load.stop();
    const statuses = Object.fromEntries(load.statuses);
    console.log(
      `[faults] Postgres restart: ${JSON.stringify(statuses)}, slowest answer ${load.slowest} ms, /healthz 200 ${healthyAfter} ms after Postgres was back, cross-replica wake ${listenAfter} ms after that`,
    );
    // Only 204 and 503: never a 500, never a hang, never a dropped connection.
    expect(Object.keys(statuses).sort()).toEqual(["204", "503"]);
    expect(load.hung).toBe(0);
    expect(load.slowest).toBeLessThan(15_000);
    for (const r of load.refusals) {
      expect(r.retryAfter).toMatch(/^\d+$/);
      expect(r.code).toMatch(/^database_/);
    }
    expect((await readAll(onB, "load")).length).toBe((await readAll(onA, "load")).length);
    expectAllAcked(await readAll(onA, "load"), load.acked);
    // The log says what happened, once per few seconds rather than per request; nothing is a bug.
    for (const s of [a.server, b]) {
      const logs = s.logs();
      expect(logs.filter((l) => l.msg === "unhandled error" || l.msg === "unhandled rejection" || l.msg === "uncaught exception")).toEqual([]);
      expect(logs.some((l) => String(l.msg).startsWith("the database is unavailable"))).toBe(true);
    }
    expect(await b.stop()).toBe(0);
    expect(await a.server.stop()).toBe(0);
  }, 90_000);

  test("connections cut again and again under load on two replicas: every acknowledged append is there, and both replicas read the same stream", async () => {
    await cluster.start();
    // A database of its own: a fresh installation prints the owner's first pairing link.
    await query({ dataDir: "", databaseUrl: cluster.url }, "CREATE DATABASE warren_cut");
    const url = Object.assign(new URL(cluster.url), { pathname: "/warren_cut" }).toString();
    const a = await streamServer({ databaseUrl: url });
    const b = await startServer({ databaseUrl: url });
    const onA = as(a.server, a.key);
    const onB = as(b, a.key);
    expect((await onA("cut", { method: "PUT", headers: text })).status).toBe(201);
    const load = writers([onA, onB], "cut", 4);
    // Each cut lands wherever the replicas are: mid-lock, mid-write, mid-COMMIT, idle.
    for (let i = 0; i < 25; i++) {
      await waitUntil(() => load.acked.length >= 20 * (i + 1), 30_000, `acknowledged appends before cut ${i + 1}`);
      await query({ dataDir: "", databaseUrl: url }, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'");
    }
    await waitUntil(() => load.acked.length >= 20 * 26, 30_000, "acknowledged appends after the last cut");
    await load.stop();
    const fromA = await readAll(onA, "cut");
    const fromB = await readAll(onB, "cut");
    expect(fromB.length).toBe(fromA.length);
    expectAllAcked(fromA, load.acked);
    expect(Object.keys(Object.fromEntries(load.statuses)).every((k) => k === "204" || k === "503")).toBe(true);
    expect(load.hung).toBe(0);
    expect(await b.stop()).toBe(0);
    expect(await a.server.stop()).toBe(0);
  }, 120_000);
});

// --- a full disk under the SQLite data dir -----------------------------------------------------

function mount(dir: string): string | null {
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", dir], { stderr: "pipe" });
  return r.exitCode === 0 ? null : `mount -t tmpfs is not permitted here: ${r.stderr.toString().trim()}`;
}

/** Whether this process may mount a tmpfs (tried once, undone at once); why not, otherwise. */
function mountable(dir: string): string | null {
  if (!isRoot) return "needs root to mount a small tmpfs as the data dir";
  const why = mount(dir);
  if (!why) Bun.spawnSync(["umount", dir]);
  return why;
}

/** Writes zeros until the file system is full; returns the filler's path. */
function fill(dir: string): string {
  const file = join(dir, "filler");
  const block = Buffer.alloc(64 * 1024);
  const fd = openSync(file, "w");
  try {
    for (;;) {
      try {
        writeSync(fd, block);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "ENOSPC") break;
        throw e;
      }
    }
    // The last partial block too: not one byte left.
    for (let n = 4096; n >= 1; n = Math.floor(n / 2)) {
      try {
        while (writeSync(fd, block.subarray(0, n)) === n);
      } catch {
        // ENOSPC at this size: try a smaller one.
      }
    }
  } finally {
    closeSync(fd);
  }
  return file;
}

const diskDir = DIALECT === "sqlite" ? tempDir("warren-fault-disk-") : "";
const diskSkip = DIALECT !== "sqlite" ? "runs in the SQLite pass of the suite (the data dir's disk)" : mountable(diskDir);

describe.skipIf(skipNote("full disk", diskSkip))("a full disk under the data dir", () => {
  afterAll(() => {
    Bun.spawnSync(["umount", "-l", diskDir]);
  });

  test("appends fail with 507 and a message, reads still work, nothing acknowledged is lost, and writes resume once space is freed, without a restart", async () => {
    expect(mount(diskDir)).toBeNull();
    const t = await streamServer({ dataDir: diskDir });
    expect((await t.s("disk", { method: "PUT", headers: text })).status).toBe(201);
    // Big appends, so the WAL has to grow while the disk is full.
    const pad = "x".repeat(4000);
    const acked: Ack[] = [];
    const statuses = new Map<number, number>();
    const refusals: { status: number; retryAfter: string | null; code: string; message: string }[] = [];
    let stop = false;
    let slowest = 0;
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const payload = `t0w${w}-${String(i).padStart(6, "0")}${pad};`;
        const started = Date.now();
        const r = await t.s("disk", { method: "POST", headers: text, body: payload, signal: AbortSignal.timeout(20_000) });
        slowest = Math.max(slowest, Date.now() - started);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 204) acked.push({ end: Number(r.headers.get("stream-next-offset")!.split("_")[1]), payload });
        else {
          const body = (await r.json()) as { error: { code: string; message: string } };
          refusals.push({ status: r.status, retryAfter: r.headers.get("retry-after"), ...body.error });
          await Bun.sleep(50);
        }
      }
    };
    const running = Array.from({ length: 4 }, (_, w) => writer(w));
    await waitUntil(() => acked.length >= 50, 30_000, "50 acknowledged appends");

    const filler = fill(diskDir);
    const fullAt = acked.length;
    await waitUntil(() => refusals.length >= 20, 30_000, "appends refused on the full disk");
    // Reads still work, from the start and at the tail; so does the rest of the server.
    const whileFull = await t.s("disk?offset=-1");
    expect(whileFull.status).toBe(200);
    expect((await whileFull.text()).length).toBeGreaterThan(0);
    expect((await fetch(`${t.server.url}/healthz`)).status).toBe(200);
    expect((await api(t.server, t.session)("GET", "/api/api-keys")).status).toBe(200);

    rmSync(filler);
    const freedAt = acked.length;
    await waitUntil(() => acked.length >= freedAt + 50, 30_000, "appends to succeed again once space is freed");
    stop = true;
    await Promise.all(running);

    console.log(`[faults] full disk: ${JSON.stringify(Object.fromEntries(statuses))}, ${acked.length - fullAt} acknowledged after the disk filled up (WAL space reused), slowest answer ${slowest} ms`);
    if (statuses.has(500)) console.log(t.server.stderr().split("\n").filter((l) => l.includes("unhandled")).slice(0, 3).join("\n"));
    expect([...statuses.keys()].sort()).toEqual([204, 507]);
    expect(slowest).toBeLessThan(15_000);
    for (const r of refusals) {
      expect(r.code).toBe("insufficient_storage");
      expect(r.message).toContain("disk is full");
      expect(r.retryAfter).toMatch(/^\d+$/);
    }
    const content = await readAll(t.s, "disk");
    expect(acked.filter((a) => content.slice(a.end - a.payload.length, a.end) !== a.payload)).toEqual([]);
    expect(content.split(";").filter(Boolean).every((s) => s.endsWith(pad) && /^t0w\d-\d{6}$/.test(s.slice(0, -pad.length)))).toBe(true);
    const logs = t.server.logs();
    expect(logs.some((l) => l.level === "error" && String(l.msg).startsWith("the disk is full"))).toBe(true);
    expect(logs.filter((l) => l.msg === "unhandled error" || l.msg === "unhandled rejection" || l.msg === "uncaught exception")).toEqual([]);
    expect(await t.server.stop()).toBe(0);
  }, 90_000);
});

// --- kill -9 of one replica ----------------------------------------------------------------------

describe.skipIf(skipNote("kill -9 of a replica", DIALECT !== "pg" ? "runs in the Postgres pass of the suite (replicas share a Postgres database)" : null))("kill -9 of one replica", () => {
  test("writers on both replicas: every acknowledged append is there, and the survivor keeps serving (writers fail over to it)", async () => {
    const a = await streamServer();
    const b = await startServer({ databaseUrl: a.server.databaseUrl, args: ["--long-poll-timeout", "500ms"] });
    const onA = as(a.server, a.key);
    const onB = as(b, a.key);
    expect((await onA("both", { method: "PUT", headers: text })).status).toBe(201);
    // Each writer starts on its replica and moves to the other when its connection fails, as a
    // client behind a load balancer would.
    let bDead = false;
    const failover = (first: typeof onA) => (p: string, init?: RequestInit) => (first === onB && bDead ? onA(p, init) : first(p, init));
    const load = writers([failover(onA), failover(onB)], "both", 4);
    await waitUntil(() => load.acked.length >= 300, 30_000, "300 acknowledged appends through both replicas");

    // New requests go to A from now on; those already on their way to B are cut off.
    bDead = true;
    b.proc.kill("SIGKILL");
    await b.exited;
    const killedAt = load.acked.length;
    await waitUntil(() => load.acked.length >= killedAt + 300, 30_000, "300 more acknowledged appends on the survivor");
    await load.stop();

    const statuses = Object.fromEntries(load.statuses);
    console.log(`[faults] kill -9 of a replica: ${JSON.stringify(statuses)}, slowest answer ${load.slowest} ms`);
    // The only failures are the requests that were on the dead replica's connections.
    expect(Object.keys(statuses).sort()).toEqual((statuses.error ? ["204", "error"] : ["204"]).sort());
    expect(load.statuses.get("error") ?? 0).toBeLessThanOrEqual(4);
    expect(load.hung).toBe(0);
    expect((await fetch(`${a.server.url}/healthz`)).status).toBe(200);
    expectAllAcked(await readAll(onA, "both"), load.acked);
    expect(a.server.logs().filter((l) => l.msg === "unhandled error" || l.msg === "unhandled rejection")).toEqual([]);
    expect(await a.server.stop()).toBe(0);
  }, 90_000);
});

/**
 * A TCP load balancer in front of replicas, as in production: each new connection goes to the
 * first backend in `order()` that accepts it. Bytes that arrive before the backend is connected
 * are held until it is.
 */
function balancer(order: () => number[]) {
  type Side = { backend: import("bun").Socket<undefined> | null; held: Uint8Array[]; closed: boolean };
  const server = Bun.listen<Side>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(client) {
        client.data = { backend: null, held: [], closed: false };
        for (const port of order()) {
          try {
            const backend = await Bun.connect({
              hostname: "127.0.0.1",
              port,
              socket: {
                data: (_s, d) => void client.write(d),
                close: () => void client.end(),
                error: () => void client.end(),
              },
            });
            if (client.data.closed) return void backend.end();
            client.data.backend = backend;
            for (const d of client.data.held.splice(0)) backend.write(d);
            return;
          } catch {
            // That backend is down: try the next.
          }
        }
        client.end();
      },
      data(client, d) {
        if (client.data.backend) client.data.backend.write(d);
        else client.data.held.push(new Uint8Array(d));
      },
      close(client) {
        client.data.closed = true;
        client.data.backend?.end();
      },
      error(client) {
        client.data.backend?.end();
      },
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}

describe.skipIf(DIALECT !== "pg")("kill -9 of the replica that holds a host", () => {
  test("behind a load balancer, the host re-registers on the survivor within 5 s and its attached client comes back through it with exact replay (no gap, no repeat)", async () => {
    const a = await streamServer({ args: ["--relay-heartbeat", "500ms"] });
    const b = await startServer({ databaseUrl: a.server.databaseUrl, args: ["--relay-heartbeat", "500ms"] });
    const portOf = (s: TestServer) => Number(new URL(s.url).port);
    let bAlive = true;
    // B first while it lives: the host lands on B.
    const lb = balancer(() => (bAlive ? [portOf(b), portOf(a.server)] : [portOf(a.server)]));
    const home = tempDir("warren-host-");
    const agent = spawnWarren(["host", "start", "--server", lb.url, "--name", "failover"], { env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: a.key } });
    await agent.waitFor(/connected: failover/);
    const hostRow = async () => (await query(a.server, "SELECT id, replica, online FROM hosts WHERE name = 'failover'"))[0] as { id: string; replica: string; online: boolean | number } | undefined;
    expect((await hostRow())?.replica).toBe(b.url);
    const hostId = (await hostRow())!.id;

    // A terminal on the host, started and attached through B, printing numbered lines.
    const owner = api(b, a.session);
    const created = await owner("POST", `/api/hosts/${hostId}/terminals`, { cmd: ["sh", "-c", "i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); sleep 0.03; done; sleep 60"] });
    expect(created.status).toBe(201);
    const term = (await created.json()) as { id: string };
    const auth = { headers: { authorization: `Bearer ${a.session}` } };
    const first = attach(`${b.url.replace(/^http/, "ws")}/api/hosts/${hostId}/terminals/${term.id}/attach`, auth);
    await first.waitFor("line-20\r\n");

    bAlive = false;
    const killed = Date.now();
    b.proc.kill("SIGKILL");
    await b.exited;
    const result = await first.result;
    await waitUntil(async () => {
      const row = await hostRow();
      return row?.replica === a.server.url && !!row.online;
    }, 10_000, "the host to register on the surviving replica");
    const reregistered = Date.now() - killed;
    console.log(`[faults] host re-registered on the survivor ${reregistered} ms after kill -9 of its replica`);
    expect(reregistered).toBeLessThan(5_000);

    // The client comes back through A from the offset it had: exact replay, no gap, no repeat.
    const again = attach(`${a.server.url.replace(/^http/, "ws")}/api/hosts/${hostId}/terminals/${term.id}/attach?since=${result.offset}`, auth);
    await again.waitFor("line-99\r\n", 40_000);
    const whole = new TextDecoder().decode(result.output) + again.text();
    expect(whole.split("\r\n").filter(Boolean)).toEqual(Array.from({ length: 100 }, (_, i) => `line-${i}`));
    again.ws.close();
    agent.proc.kill("SIGTERM");
    await agent.exited;
    lb.stop();
    expect(await a.server.stop()).toBe(0);
  }, 60_000);
});
