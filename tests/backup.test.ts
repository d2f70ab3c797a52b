// warren backup and restore (SQLite): a copy taken while eight writers append holds every append
// acknowledged before it began, whole and in order; restored into an empty data dir, the server
// starts on it and the same API key reads it. On Postgres the command says to use pg_dump.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, DIALECT, runWarren, startServer, tempDir, waitUntil } from "./harness";
import { streamServer } from "./stream-helpers";

afterAll(cleanup);

const text = { "content-type": "text/plain" };

describe.if(DIALECT === "sqlite")("backup and restore (sqlite)", () => {
  test("a backup during 8 concurrent writers, restored into an empty data dir, has every append acknowledged before it", async () => {
    const t = await streamServer();
    expect((await t.s("busy", { method: "PUT", headers: text })).status).toBe(201);
    const acked: { end: number; payload: string; at: number }[] = [];
    let stop = false;
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const payload = `w${w}-${String(i).padStart(6, "0")};`;
        const r = await t.s("busy", { method: "POST", headers: text, body: payload });
        if (r.status === 204) acked.push({ end: Number(r.headers.get("stream-next-offset")!.split("_")[1]), payload, at: Date.now() });
      }
    };
    const workers = Array.from({ length: 8 }, (_, w) => worker(w));
    await waitUntil(() => acked.length >= 300, 30_000, "300 acknowledged appends");
    const file = join(tempDir("warren-backup-"), "warren.backup");
    const began = Date.now();
    const out = await runWarren(["backup", file, "--data-dir", t.server.dataDir]);
    const during = acked.filter((a) => a.at > began).length;
    stop = true;
    await Promise.all(workers);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/warren\.backup: [\d.]+ MB, 1 users, 1 streams, checked, in [\d.]+ s/);
    expect(out.stderr).toContain("the secret is not in the backup");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(during).toBeGreaterThan(0); // the writers did not wait for the backup
    await t.server.stop();

    const restored = tempDir("warren-restored-");
    const r = await runWarren(["restore", file, "--data-dir", restored, "--secret", join(t.server.dataDir, "secret")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`start it with: warren serve --data-dir ${restored}`);
    const again = await startServer({ dataDir: restored });
    const read = await fetch(`${again.url}/v1/stream/busy`, { headers: { authorization: `Bearer ${t.key}` } });
    expect(read.status).toBe(200);
    const content = await read.text();
    for (const a of acked.filter((x) => x.at < began)) expect(content.slice(a.end - a.payload.length, a.end)).toBe(a.payload);
    // Whole appends only, each writer's in order: nothing torn at the moment of the copy.
    const pieces = content.split(";").filter(Boolean);
    for (const p of pieces) expect(p).toMatch(/^w\d-\d{6}$/);
    for (let w = 0; w < 8; w++) {
      const mine = pieces.filter((p) => p.startsWith(`w${w}-`)).map((p) => Number(p.slice(3)));
      expect(mine).toEqual(mine.map((_, i) => i));
    }
    // The installation is the same one: a JWT from before still verifies, with the secret restored.
    expect((await fetch(`${again.url}/api/auth/token`, { headers: { "x-api-key": t.key } })).status).toBe(200);
    await again.stop();
  }, 120_000);

  test("no overwrite, no restore over a database or a running server; without the secret, a new signing key", async () => {
    const s = await startServer();
    await s.waitFor(/\/pair#token=/);
    const file = join(tempDir("warren-backup-"), "b.db");
    writeFileSync(file, "already here");
    const over = await runWarren(["backup", file, "--data-dir", s.dataDir]);
    expect(over.code).toBe(1);
    expect(over.stderr).toContain("exists already");
    const good = join(tempDir("warren-backup-"), "b.db");
    expect((await runWarren(["backup", good, "--data-dir", s.dataDir])).code).toBe(0);
    const busy = await runWarren(["restore", good, "--data-dir", s.dataDir]);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toContain(`pid ${s.proc.pid}`);
    await s.stop();
    const full = await runWarren(["restore", good, "--data-dir", s.dataDir]);
    expect(full.code).toBe(1);
    expect(full.stderr).toContain("already holds a database");
    const junk = await runWarren(["restore", file, "--data-dir", tempDir()]);
    expect(junk.code).toBe(1);
    expect(junk.stderr).toContain("not a Warren database");
    const fresh = tempDir();
    const bare = await runWarren(["restore", good, "--data-dir", fresh]);
    expect(bare.code).toBe(0);
    expect(bare.stderr).toContain("signing keys were dropped");
    expect(existsSync(join(fresh, "warren.db"))).toBe(true);
    const again = await startServer({ dataDir: fresh });
    expect((await fetch(`${again.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${again.url}/api/auth/jwks`).then((r) => r.json())) as { keys: unknown[] }).toMatchObject({ keys: [{}] });
    await again.stop();
  });
});

describe.if(DIALECT === "pg")("backup on Postgres", () => {
  test("says how to do it with pg_dump, and exits 1", async () => {
    const s = await startServer();
    const r = await runWarren(["backup", join(tempDir(), "x"), "--data-dir", s.dataDir, "--database-url", s.databaseUrl!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("pg_dump --format=custom");
    expect(r.stderr).not.toContain(s.databaseUrl!);
    await s.stop();
  });
});
