// The test harness: real `warren` processes on 127.0.0.1 port 0 with a temp data dir, on SQLite
// or — when WARREN_TEST_DATABASE_URL names a Postgres server — on a fresh Postgres database per
// server. Every suite runs unchanged on both.
import { SQL } from "bun";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";

export const ROOT = resolve(import.meta.dir, "..");
export const MAIN = join(ROOT, "cli/main.ts");
/** Postgres admin URL, or undefined for SQLite runs. */
export const PG_ADMIN_URL = process.env.WARREN_TEST_DATABASE_URL || undefined;
export const DIALECT = PG_ADMIN_URL ? "pg" : "sqlite";

const cleanups: (() => Promise<void> | void)[] = [];

/** Runs registered cleanups; each test file calls it from afterAll. */
export async function cleanup() {
  for (const fn of cleanups.splice(0).reverse()) await fn();
}

export function tempDir(prefix = "warren-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A database of its own for one test: a new Postgres database, or undefined (SQLite in the data dir). */
export async function freshDatabaseUrl(): Promise<string | undefined> {
  if (!PG_ADMIN_URL) return undefined;
  const name = `warren_t_${randomBytes(6).toString("hex")}`;
  const admin = new SQL(PG_ADMIN_URL, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.close();
  cleanups.push(async () => {
    const a = new SQL(PG_ADMIN_URL!, { max: 1 });
    await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await a.close();
  });
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  return u.toString();
}

export interface Proc {
  proc: Bun.Subprocess<"ignore" | "pipe", "pipe", "pipe">;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code. */
  exited: Promise<number>;
  /** Waits until stdout (or stderr) matches, or throws after `ms` with what was printed. */
  waitFor(re: RegExp, opts?: { ms?: number; stream?: "stdout" | "stderr" }): Promise<RegExpMatchArray>;
}

export function spawnWarren(args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string; cmd?: string[] } = {}): Proc {
  const env: Record<string, string | undefined> = { ...process.env, WARREN_TEST_DATABASE_URL: undefined, ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const proc = Bun.spawn([...(opts.cmd ?? [process.execPath, MAIN]), ...args], {
    env: env as Record<string, string>,
    cwd: opts.cwd ?? ROOT,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const out = { stdout: "", stderr: "" };
  const waiters = new Set<() => void>();
  const pump = async (stream: ReadableStream<Uint8Array>, key: "stdout" | "stderr") => {
    const decoder = new TextDecoder();
    for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) {
      out[key] += decoder.decode(chunk, { stream: true });
      for (const w of waiters) w();
    }
  };
  const pumped = Promise.all([pump(proc.stdout, "stdout"), pump(proc.stderr, "stderr")]);
  const exited = proc.exited.then(async (code) => {
    await pumped;
    for (const w of waiters) w();
    return code;
  });
  cleanups.push(async () => {
    if (proc.exitCode === null && !proc.killed) proc.kill("SIGKILL");
    await exited;
  });
  return {
    proc,
    stdout: () => out.stdout,
    stderr: () => out.stderr,
    exited,
    waitFor(re, { ms = 20_000, stream = "stdout" } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out[stream].match(re);
          if (m) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(m);
          } else if (proc.exitCode !== null) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`warren exited (${proc.exitCode}) before printing ${re}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${re}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
}

export interface TestServer extends Proc {
  url: string;
  dataDir: string;
  databaseUrl?: string;
  /** Parsed JSON log lines printed so far. */
  logs(): Record<string, unknown>[];
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number>;
}

/** One server secret per Postgres database: replicas of one installation share it, as they must. */
const secrets = new Map<string, string>();

export async function startServer(
  opts: { args?: string[]; env?: Record<string, string | undefined>; dataDir?: string; databaseUrl?: string | null; cmd?: string[]; cwd?: string } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const databaseUrl = opts.databaseUrl === null ? undefined : (opts.databaseUrl ?? (await freshDatabaseUrl()));
  const secretFile = join(dataDir, "secret");
  if (databaseUrl && existsSync(dataDir) && !existsSync(secretFile)) {
    if (!secrets.has(databaseUrl)) secrets.set(databaseUrl, randomBytes(32).toString("base64url") + "\n");
    writeFileSync(secretFile, secrets.get(databaseUrl)!, { mode: 0o600 });
  }
  const args = ["serve", "--port", "0", "--data-dir", dataDir, "--no-browser", ...(databaseUrl ? ["--database-url", databaseUrl] : []), ...(opts.args ?? [])];
  const p = spawnWarren(args, { env: opts.env, cmd: opts.cmd, cwd: opts.cwd });
  const [, url] = await p.waitFor(/warren listening on (https?:\/\/\S+)/);
  return {
    ...p,
    url: url!,
    dataDir,
    databaseUrl,
    logs: () => parseLogLines(p.stderr()),
    async stop() {
      p.proc.kill("SIGTERM");
      return p.exited;
    },
  };
}

export function parseLogLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Runs a warren CLI command to completion. */
export async function runWarren(args: string[], opts: { env?: Record<string, string | undefined>; cwd?: string; cmd?: string[] } = {}) {
  const p = spawnWarren(args, opts);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

export async function waitUntil(pred: () => boolean | Promise<boolean>, ms = 10_000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** Runs SQL directly against a test server's database (SQLite file or Postgres URL). */
export async function query(target: { dataDir: string; databaseUrl?: string }, text: string): Promise<Record<string, unknown>[]> {
  if (target.databaseUrl) {
    const sql = new SQL(target.databaseUrl, { max: 1 });
    try {
      return [...((await sql.unsafe(text)) as Record<string, unknown>[])];
    } finally {
      await sql.close();
    }
  }
  const { Database } = await import("bun:sqlite");
  const db = new Database(join(target.dataDir, "warren.db"));
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    return db.query(text).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}
