// The data layer: one database handle for every module — bun:sqlite in the data dir by default,
// Postgres when a postgres:// URL is given. Migrations are embedded and applied on open.
import { join } from "node:path";
import { openSqlite, type SqliteDb } from "./sqlite";
import { openPg, type PgDb } from "./pg";

export type Db = SqliteDb | PgDb;
export type { SqliteDb, PgDb };

export async function openDatabase(opts: { dataDir: string; databaseUrl?: string }): Promise<Db> {
  if (!opts.databaseUrl) return openSqlite(join(opts.dataDir, "warren.db"));
  return openPg(opts.databaseUrl);
}
