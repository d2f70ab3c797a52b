// What both dialects share when migrating: which embedded migrations still need applying, and
// the refusals that protect a database from a binary that does not match it. Each dialect runs
// the plan inside its own exclusive lock (sqlite.ts: BEGIN IMMEDIATE; pg.ts: an advisory lock),
// so two processes starting at once apply each migration exactly once.

export interface Migration {
  tag: string;
  sql: string;
}

export interface AppliedMigration {
  tag: string;
  checksum: string;
}

export const MIGRATIONS_TABLE = "warren_migrations";

export function checksum(sql: string): string {
  return new Bun.CryptoHasher("sha256").update(sql).digest("hex");
}

export function statements(sql: string): string[] {
  return sql
    .split("--> statement-breakpoint")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The migrations to apply, in order; throws when the database does not belong with this binary. */
export function pending(embedded: Migration[], applied: AppliedMigration[]): Migration[] {
  const known = new Map(embedded.map((m) => [m.tag, m]));
  for (const a of applied) {
    const m = known.get(a.tag);
    if (!m) {
      throw new Error(
        `the database was migrated by a newer warren (it has migration ${a.tag}, which this build does not know); run a newer warren`,
      );
    }
    if (checksum(m.sql) !== a.checksum) {
      throw new Error(`migration ${a.tag} differs from the one applied to this database; restore it and add a new migration instead`);
    }
  }
  const done = new Set(applied.map((a) => a.tag));
  return embedded.filter((m) => !done.has(m.tag));
}
