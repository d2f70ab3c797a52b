// Backups of the embedded database. `VACUUM INTO` copies a consistent snapshot of a live SQLite
// file (a read transaction: every commit before it started, none after) while the server goes on
// writing; the copy is written beside the target, synced, checked, and only then renamed into
// place. A restore goes into a data dir that holds no database, and never over a running server.
// The server secret is not in the copy (a backup is a file people move around; the secret unseals
// the JWT signing keys): it is restored beside it when given, else those keys are dropped and the
// server makes a new one — sessions and API keys, stored as hashes, keep working either way.
import { Database } from "bun:sqlite";
import { chmodSync, closeSync, copyFileSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { randomBytes } from "node:crypto";
import { prepareDataDir, StartupError, writeSecretFile, readSecret } from "./datadir";
import { liveServer } from "./lease";

export const DB_FILE = "warren.db";

export interface BackupResult {
  bytes: number;
  streams: number;
  users: number;
}

function counts(db: Database): Omit<BackupResult, "bytes"> {
  const n = (table: string) => (db.query(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  return { streams: n("streams"), users: n("users") };
}

/** Refuses a file that is not a whole Warren database. */
function check(path: string): Omit<BackupResult, "bytes"> {
  const db = new Database(path, { readonly: true });
  try {
    const ok = (db.query("PRAGMA integrity_check").get() as { integrity_check: string }).integrity_check;
    if (ok !== "ok") throw new StartupError(`${path} is damaged: ${ok}`);
    if (!db.query("SELECT name FROM sqlite_master WHERE name = 'warren_migrations'").get()) throw new StartupError(`${path} is not a Warren database`);
    return counts(db);
  } catch (e) {
    if (e instanceof StartupError) throw e;
    throw new StartupError(`${path} is not a Warren database (${(e as Error).message})`);
  } finally {
    db.close();
  }
}

function fsyncFile(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A consistent copy of the data dir's database at `target`, taken while the server may be writing. */
export function backupSqlite(dataDir: string, target: string): BackupResult {
  const source = join(dataDir, DB_FILE);
  if (!existsSync(source)) throw new StartupError(`there is no database at ${source}: give the server's --data-dir`);
  if (existsSync(target)) throw new StartupError(`${target} exists already: choose a new file, backups never overwrite`);
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
  const db = new Database(source, { readonly: true });
  try {
    db.exec("PRAGMA busy_timeout = 10000");
    db.query("VACUUM INTO ?").run(tmp);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new StartupError(`the backup failed: ${(e as Error).message}`);
  } finally {
    db.close();
  }
  try {
    // Hashes and sealed keys: as private as the database itself.
    chmodSync(tmp, 0o600);
    fsyncFile(tmp);
    const result = { bytes: statSync(tmp).size, ...check(tmp) };
    renameSync(tmp, target);
    return result;
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export interface RestoreResult extends BackupResult {
  /** The signing keys were dropped: no secret came with the backup. */
  keysDropped: boolean;
}

/** Puts a backup in place as the database of a data dir that has none; `secretFile` restores the secret too. */
export function restoreSqlite(file: string, dataDir: string, secretFile?: string): RestoreResult {
  if (!existsSync(file)) throw new StartupError(`no such backup: ${file}`);
  const info = check(file);
  prepareDataDir(dataDir);
  const running = liveServer(dataDir);
  if (running) throw new StartupError(`a warren (pid ${running.pid}) is serving ${dataDir}: restore into a data dir no server uses`);
  const target = join(dataDir, DB_FILE);
  if (existsSync(target)) throw new StartupError(`${dataDir} already holds a database: restore into an empty data dir (or move ${target} away first)`);
  if (secretFile) writeSecretFile(dataDir, "secret", readSecret(secretFile) + "\n");
  const tmp = join(dataDir, `.${DB_FILE}.${randomBytes(6).toString("hex")}.tmp`);
  copyFileSync(file, tmp);
  chmodSync(tmp, 0o600);
  fsyncFile(tmp);
  const keysDropped = !secretFile && !existsSync(join(dataDir, "secret"));
  if (keysDropped) {
    const db = new Database(tmp);
    try {
      db.exec("DELETE FROM signing_keys");
    } finally {
      db.close();
    }
  }
  renameSync(tmp, target);
  return { bytes: statSync(target).size, ...info, keysDropped };
}
