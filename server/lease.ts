// One server per data dir. Two on one dir would share the SQLite file, the secret and the
// terminals' state by accident; so `warren serve` holds an exclusive SQLite lock on
// `<data dir>/serve.lock` (an advisory lock the kernel drops on any exit, kill -9 included: no
// stale lock after a crash) and records who holds it in `serve.json`: its pid, and its URL once
// it listens — which is how `warren pair` finds the server that owns the data dir. Replicas on
// one Postgres each have a data dir of their own (with the same secret file).
import { Database } from "bun:sqlite";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { StartupError, writeSecretFile } from "./datadir";

export interface Holder {
  pid: number;
  /** The URL it listens on; absent while it is still starting. */
  url?: string;
  startedAt: string;
}

export interface Lease {
  /** Records the URL the server listens on, for `warren pair` and for a second `serve` to name. */
  listening(url: string): void;
  release(): void;
}

const LOCK = "serve.lock";
const HOLDER = "serve.json";

/** Tries the lock: the open lock database when it was free, null when a live server holds it. */
function tryLock(dir: string): Database | null {
  const db = new Database(join(dir, LOCK), { create: true });
  try {
    db.exec("PRAGMA busy_timeout = 0");
    db.exec("BEGIN EXCLUSIVE");
    return db;
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code === "SQLITE_BUSY") return null;
    throw e;
  }
}

function readHolder(dir: string): Holder | null {
  try {
    const h = JSON.parse(readFileSync(join(dir, HOLDER), "utf8")) as Holder;
    return typeof h.pid === "number" ? h : null;
  } catch {
    return null;
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * Who holds the lock: its record, once it has written it — a server that has just taken the lock
 * writes it a moment later, and a record left by a crash names a process that is gone.
 */
function holderOf(dir: string): Holder | null {
  for (let i = 0; i < 40; i++) {
    const h = readHolder(dir);
    if (h && alive(h.pid)) return h;
    Bun.sleepSync(25);
  }
  return null;
}

/** Takes the data dir for this process, or refuses (exit 1) naming the server that has it. */
export function holdDataDir(dir: string): Lease {
  const lock = tryLock(dir);
  if (!lock) {
    const h = holderOf(dir);
    const who = h ? `warren (pid ${h.pid}${h.url ? `, ${h.url}` : ""})` : "warren";
    throw new StartupError(
      `refusing to start: another ${who} is serving the data dir ${dir}. Stop it first, or give this server a --data-dir of its own ` +
        `(replicas on one Postgres each need their own, holding the same secret file)`,
    );
  }
  const holder: Holder = { pid: process.pid, startedAt: new Date().toISOString() };
  const record = () => writeSecretFile(dir, HOLDER, JSON.stringify(holder) + "\n");
  record();
  return {
    listening(url) {
      holder.url = url;
      record();
    },
    release() {
      lock.exec("ROLLBACK");
      lock.close();
    },
  };
}

/** The live server holding a data dir, or null when none does (a record left by a crash is stale). */
export function liveServer(dir: string): Holder | null {
  if (!existsSync(join(dir, LOCK))) return null;
  const free = tryLock(dir);
  if (!free) return holderOf(dir);
  free.exec("ROLLBACK");
  free.close();
  return null;
}
