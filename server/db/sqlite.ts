// The embedded default: one bun:sqlite file in the data dir, shared by every module.
import { Database as SQLite } from "bun:sqlite";
import { chmodSync } from "node:fs";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import * as schema from "./schema";
import { migrations } from "./migrations/sqlite";
import { MIGRATIONS_TABLE, checksum, pending, statements, type AppliedMigration } from "./migrate";

export interface SqliteDb {
  dialect: "sqlite";
  orm: BunSQLiteDatabase<typeof schema>;
  client: SQLite;
  /** Where the data lives, safe to print. */
  location: string;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export function openSqlite(path: string): SqliteDb {
  const client = new SQLite(path, { create: true, strict: true });
  try {
    chmodSync(path, 0o600);
  } catch {
    // Not every platform (Windows) has POSIX modes; the data dir's own check covers the rest.
  }
  // busy_timeout first: switching to WAL needs a lock another starting process may hold.
  // WAL lets readers and a second process share the file; FULL fsyncs every commit, which is
  // the durability promise (SPEC §0) — group commit, not a weaker pragma, buys the speed back.
  client.exec("PRAGMA busy_timeout = 10000");
  client.exec("PRAGMA journal_mode = WAL");
  client.exec("PRAGMA synchronous = FULL");
  client.exec("PRAGMA foreign_keys = ON");
  migrateSqlite(client);
  const ping = client.prepare("SELECT 1 AS ok");
  return {
    dialect: "sqlite",
    orm: drizzle({ client, schema }),
    client,
    location: path,
    async ping() {
      ping.get();
    },
    async close() {
      client.close();
    },
  };
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
