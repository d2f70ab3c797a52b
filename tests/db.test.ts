import { afterAll, describe, expect, test } from "bun:test";
import { cleanup, DIALECT, freshDatabaseUrl, PG_ADMIN_URL, query, runWarren, startServer, tempDir } from "./harness";
import { migrations as sqliteMigrations } from "../server/db/migrations/sqlite";
import { migrations as pgMigrations } from "../server/db/migrations/pg";

afterAll(cleanup);

const embedded = DIALECT === "pg" ? pgMigrations : sqliteMigrations;
const serveArgs = (t: { dataDir: string; databaseUrl?: string }) => ["serve", "--port", "0", "--data-dir", t.dataDir, ...(t.databaseUrl ? ["--database-url", t.databaseUrl] : [])];

async function tables(t: { dataDir: string; databaseUrl?: string }): Promise<string[]> {
  const rows = await query(
    t,
    DIALECT === "pg"
      ? "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'"
      : "SELECT name FROM sqlite_master WHERE type = 'table'",
  );
  return rows.map((r) => String(r.name)).sort();
}

describe(`migrations (${DIALECT})`, () => {
  test("a fresh database gets every embedded migration, once", async () => {
    const s = await startServer();
    await s.stop();
    const applied = await query(s, "SELECT tag, checksum FROM warren_migrations ORDER BY tag");
    expect(applied.map((r) => r.tag)).toEqual(embedded.map((m) => m.tag));
    expect(await tables(s)).toEqual(expect.arrayContaining(["members", "organizations", "users", "warren_migrations"]));
  });

  test("starting again applies nothing twice and keeps the data", async () => {
    const s1 = await startServer();
    await s1.stop();
    await query(s1, "INSERT INTO users (id, email, name, created_at) VALUES ('u1', 'a@example.com', 'A', 0)".replace(", 0)", DIALECT === "pg" ? ", now())" : ", 0)"));
    const s2 = await startServer({ dataDir: s1.dataDir, databaseUrl: s1.databaseUrl ?? null });
    await s2.stop();
    expect(Number((await query(s1, "SELECT count(*) AS n FROM warren_migrations"))[0]!.n)).toBe(embedded.length);
    expect(await query(s1, "SELECT email FROM users WHERE id = 'u1'")).toEqual([{ email: "a@example.com" }]);
  });

  test.if(DIALECT === "pg")("four servers starting at once on one database migrate it exactly once", async () => {
    const databaseUrl = await freshDatabaseUrl();
    // Replicas on one Postgres, each with its own data dir, as on separate machines.
    const servers = await Promise.all([1, 2, 3, 4].map(() => startServer({ dataDir: tempDir(), databaseUrl: databaseUrl ?? null })));
    for (const s of servers) expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    for (const s of servers) expect(await s.stop()).toBe(0);
    const t = { dataDir: servers[0]!.dataDir, databaseUrl };
    const applied = await query(t, "SELECT tag FROM warren_migrations ORDER BY tag");
    expect(applied.map((r) => r.tag)).toEqual(embedded.map((m) => m.tag));
  });

  test("a database migrated by a newer warren is refused with the reason", async () => {
    const s = await startServer();
    await s.stop();
    await query(s, "INSERT INTO warren_migrations (tag, checksum, applied_at) VALUES ('9999_future', 'x', 0)");
    const r = await runWarren(serveArgs(s));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("newer warren");
    expect(r.stderr).toContain("9999_future");
  });

  test("an applied migration whose text changed is refused", async () => {
    const s = await startServer();
    await s.stop();
    await query(s, `UPDATE warren_migrations SET checksum = 'tampered' WHERE tag = '${embedded[0]!.tag}'`);
    const r = await runWarren(serveArgs(s));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`migration ${embedded[0]!.tag} differs`);
  });

  test("generated files (Postgres schema and stores, migration indexes, the browser codec) are up to date", async () => {
    for (const gen of ["server/db/gen.ts", "server/web/gen.ts"]) {
      const p = Bun.spawnSync([process.execPath, gen, "--check"], { cwd: `${import.meta.dir}/..`, stderr: "pipe" });
      expect(p.stderr.toString()).toBe("");
      expect(p.exitCode).toBe(0);
    }
  });
});

describe.if(!!PG_ADMIN_URL)("Postgres specifics", () => {
  test("/healthz answers 503 when the database is gone", async () => {
    const s = await startServer();
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    const name = new URL(s.databaseUrl!).pathname.slice(1);
    const { SQL } = await import("bun");
    const admin = new SQL(PG_ADMIN_URL!, { max: 1 });
    await admin.unsafe(`DROP DATABASE ${name} WITH (FORCE)`);
    await admin.close();
    const r = await fetch(`${s.url}/healthz`);
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ error: { code: "database_unavailable", message: "the database did not answer" } });
    expect(await s.stop()).toBe(0);
  });

  test("an unreachable or wrongly authenticated Postgres is a clear start failure without the password", async () => {
    const bad = new URL(PG_ADMIN_URL!);
    bad.password = "definitely-wrong-pw";
    bad.username = "nobody_here";
    const r1 = await runWarren(["serve", "--port", "0", "--data-dir", tempDir(), "--database-url", bad.toString()]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toContain("cannot connect to Postgres");
    expect(r1.stderr).not.toContain("definitely-wrong-pw");
    const r2 = await runWarren(["serve", "--port", "0", "--data-dir", tempDir(), "--database-url", "postgres://u:secretpw@127.0.0.1:1/db"]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toContain("cannot connect to Postgres at postgres://u:***@127.0.0.1:1/db");
  });
});
