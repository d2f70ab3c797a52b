// The embedded default: one bun:sqlite file in the data dir, shared by every module.
// Two connections: `orm` reads, `write()` runs transactions one at a time on a second connection.
// bun:sqlite transactions are synchronous (an async callback commits at its first await), and on
// a single shared connection any other request's statement would run inside an open transaction;
// a dedicated writer behind a queue gives async transaction bodies real atomicity, and WAL gives
// readers on the first connection a consistent view that never sees uncommitted rows.
//
// Durability (SPEC §0) is group commit on the WAL: a commit writes its frames without syncing
// (synchronous=NORMAL), and write() resolves only once an fdatasync of the WAL file that began
// after that commit has finished. That is exactly what synchronous=FULL does in WAL mode (sync
// the WAL after each commit), except that the sync runs on the thread pool: the event loop keeps
// serving and committing meanwhile, and one sync covers every commit written before it.
// Checkpoints keep NORMAL's own syncs (WAL before, database after).
import { Database as SQLite } from "bun:sqlite";
import { chmodSync, fdatasync, openSync, closeSync } from "node:fs";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import * as schema from "./schema";
import { migrations } from "./migrations/sqlite";
import { MIGRATIONS_TABLE, checksum, pending, statements, type AppliedMigration } from "./migrate";

export type SqliteOrm = BunSQLiteDatabase<typeof schema>;
export type SqliteTx = SqliteOrm;

export interface SqliteDb {
  dialect: "sqlite";
  /** For reads. Every write goes through write(). */
  orm: SqliteOrm;
  /** Runs fn in one IMMEDIATE transaction; resolves once it is committed and on disk, rolls back when it throws. */
  write<T>(fn: (tx: SqliteTx) => Promise<T>): Promise<T>;
  client: SQLite;
  /** Where the data lives, safe to print. */
  location: string;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function openSqlite(path: string): SqliteDb {
  const client = connect(path);
  try {
    chmodSync(path, 0o600);
  } catch {
    // Not every platform (Windows) has POSIX modes; the data dir's own check covers the rest.
  }
  client.exec("PRAGMA journal_mode = WAL");
  migrateSqlite(client);
  const writerClient = connect(path);
  const writer = drizzle({ client: writerClient, schema });
  const wal = walSync(`${path}-wal`);
  let queue: Promise<unknown> = Promise.resolve();
  const ping = client.prepare("SELECT 1 AS ok");
  return {
    dialect: "sqlite",
    orm: drizzle({ client, schema }),
    write<T>(fn: (tx: SqliteTx) => Promise<T>): Promise<T> {
      const run = queue.then(async () => {
        writerClient.exec("BEGIN IMMEDIATE");
        try {
          const result = await fn(writer);
          writerClient.exec("COMMIT");
          return result;
        } catch (e) {
          // SQLite may have rolled back by itself already (SQLITE_FULL, an I/O error, a failed
          // COMMIT): a ROLLBACK then fails, and must neither hide the real error (a full disk is
          // a 507, not a bug) nor leave the writer inside a transaction for the next caller.
          if (writerClient.inTransaction) {
            try {
              writerClient.exec("ROLLBACK");
            } catch {
              // The original error is the one that matters.
            }
          }
          throw e;
        }
      });
      // The next transaction may start as soon as this one committed; its caller waits for the sync.
      queue = run.catch(() => {});
      return run.then(async (result) => {
        await wal.durable();
        return result;
      });
    },
    client,
    location: path,
    async ping() {
      ping.get();
    },
    async close() {
      await queue;
      await wal.durable();
      wal.close();
      writerClient.close();
      client.close();
    },
  };
}

/**
 * fdatasync of the WAL file, shared: durable() resolves after a sync that started after the
 * call. While one sync runs, every caller that arrives joins the single next one.
 */
function walSync(walPath: string) {
  let fd: number | null = null;
  let current: Promise<void> | null = null;
  let next: Promise<void> | null = null;
  const start = (): Promise<void> => {
    fd ??= openSync(walPath, "r");
    const p = new Promise<void>((resolve, reject) => fdatasync(fd!, (e) => (e ? reject(e) : resolve())));
    current = p;
    const clear = () => {
      if (current === p) current = null;
    };
    p.then(clear, clear);
    return p;
  };
  return {
    durable(): Promise<void> {
      if (!current) return start();
      next ??= current
        .catch(() => {})
        .then(() => {
          next = null;
          return start();
        });
      return next;
    },
    close() {
      if (fd !== null) closeSync(fd);
    },
  };
}

function connect(path: string): SQLite {
  const c = new SQLite(path, { create: true, strict: true });
  // busy_timeout first: switching to WAL needs a lock another starting process may hold.
  // NORMAL: commits do not sync; write() syncs the WAL itself before it reports a commit (above).
  c.exec("PRAGMA busy_timeout = 10000");
  c.exec("PRAGMA synchronous = NORMAL");
  c.exec("PRAGMA foreign_keys = ON");
  return c;
}

function migrateSqlite(client: SQLite) {
  // BEGIN IMMEDIATE takes the write lock before reading what was applied, so a second process
  // waits (busy_timeout) and then sees the first one's work instead of repeating it.
  client.exec("BEGIN IMMEDIATE");
  try {
    client.exec(
      `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (tag TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)`,
    );
    const applied = client.query(`SELECT tag, checksum FROM ${MIGRATIONS_TABLE}`).all() as AppliedMigration[];
    const record = client.prepare(`INSERT INTO ${MIGRATIONS_TABLE} (tag, checksum, applied_at) VALUES (?, ?, ?)`);
    for (const m of pending(migrations, applied)) {
      for (const s of statements(m.sql)) client.exec(s);
      record.run(m.tag, checksum(m.sql), Date.now());
    }
    client.exec("COMMIT");
  } catch (e) {
    client.exec("ROLLBACK");
    throw e;
  }
}
