// Postgres through Bun.SQL, for teams and for several replicas on one database.
import { SQL } from "bun";
import { drizzle, type BunSQLDatabase } from "drizzle-orm/bun-sql";
import * as schema from "./schema.pg";
import { migrations } from "./migrations/pg";
import { MIGRATIONS_TABLE, checksum, pending, statements, type AppliedMigration } from "./migrate";

export type PgOrm = BunSQLDatabase<typeof schema>;
export type PgTx = Parameters<Parameters<PgOrm["transaction"]>[0]>[0];

export interface PgDb {
  dialect: "pg";
  orm: PgOrm;
  /** Runs fn in one transaction; commits when it resolves, rolls back when it throws. */
  write<T>(fn: (tx: PgTx) => Promise<T>): Promise<T>;
  client: SQL;
  location: string;
  ping(): Promise<void>;
  close(): Promise<void>;
}

const PING_TIMEOUT_MS = 2000;

/** Any fixed number works; it names "warren is migrating" among advisory locks on this database. */
const MIGRATION_LOCK = 7420_0001;

export async function openPg(url: string): Promise<PgDb> {
  const location = withoutPassword(url);
  const client = new SQL(url, { max: 10, connectionTimeout: 10, idleTimeout: 60 });
  try {
    await client`SELECT 1`;
  } catch (e) {
    await client.close({ timeout: 0 }).catch(() => {});
    throw new Error(`cannot connect to Postgres at ${location}: ${describe(e)}`);
  }
  await migratePg(client);
  const orm = drizzle({ client, schema });
  return {
    dialect: "pg",
    orm,
    write: (fn) => orm.transaction(fn),
    client,
    location,
    async ping() {
      // A lost server can leave a query hanging; health checks need an answer in bounded time.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("ping timed out")), PING_TIMEOUT_MS);
      });
      try {
        await Promise.race([client`SELECT 1`, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await client.close({ timeout: 5 });
    },
  };
}

async function migratePg(client: SQL) {
  // The transaction-scoped advisory lock serialises concurrent starters; DDL in Postgres is
  // transactional, so a failed migration leaves nothing half-applied.
  await client.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx.unsafe(
      `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (tag TEXT PRIMARY KEY, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
    );
    const applied = (await tx.unsafe(`SELECT tag, checksum FROM ${MIGRATIONS_TABLE}`)) as AppliedMigration[];
    for (const m of pending(migrations, applied)) {
      for (const s of statements(m.sql)) await tx.unsafe(s);
      await tx.unsafe(`INSERT INTO ${MIGRATIONS_TABLE} (tag, checksum, applied_at) VALUES ($1, $2, $3)`, [
        m.tag,
        checksum(m.sql),
        Date.now(),
      ]);
    }
  });
}

/** The URL with any password masked, for messages and logs. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable database URL)";
  }
}

function describe(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return [err.code, err.message].filter(Boolean).join(": ") || String(e);
}
