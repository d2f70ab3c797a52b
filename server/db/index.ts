// The data layer: one database handle for every module — bun:sqlite in the data dir by default,
// Postgres when a postgres:// URL is given. Migrations are embedded and applied on open. Every
// write transaction is timed for the metrics, whichever the database.
import { join } from "node:path";
import { openSqlite, type SqliteDb } from "./sqlite";
import { openPg, type PgDb } from "./pg";
import { dbWaiting, dbWrite } from "../metrics";

export type Db = SqliteDb | PgDb;
export type { SqliteDb, PgDb };

export async function openDatabase(opts: { dataDir: string; databaseUrl?: string }): Promise<Db> {
  return metered(opts.databaseUrl ? await openPg(opts.databaseUrl) : openSqlite(join(opts.dataDir, "warren.db")));
}

function metered<D extends Db>(db: D): D {
  const write = db.write.bind(db) as (fn: (tx: never) => Promise<unknown>) => Promise<unknown>;
  const close = db.close.bind(db);
  let waiting = 0;
  const unmeter = dbWaiting(() => waiting);
  return Object.assign(db, {
    async write(fn: (tx: never) => Promise<unknown>) {
      waiting++;
      const started = performance.now();
      try {
        return await write(fn);
      } finally {
        waiting--;
        dbWrite((performance.now() - started) / 1000);
      }
    },
    async close() {
      unmeter();
      await close();
    },
  });
}
