import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, DIALECT, freshDatabaseUrl, runWarren, spawnWarren, startServer, tempDir } from "./harness";

afterAll(cleanup);

const mode = (path: string) => statSync(path).mode & 0o777;

describe(`data dir and server secret (${DIALECT})`, () => {
  test("a new data dir is created 0700 (parents too) and the secret 0600", async () => {
    const dataDir = join(tempDir(), "nested", "warren");
    const s = await startServer({ dataDir });
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(join(dataDir, "secret"))).toBe(0o600);
    expect(Buffer.from(readFileSync(join(dataDir, "secret"), "utf8").trim(), "base64url").length).toBe(32);
    if (!s.databaseUrl) expect(mode(join(dataDir, "warren.db"))).toBe(0o600);
    // No temp files left behind by the atomic write.
    expect(readdirSync(dataDir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    await s.stop();
  });

  test("the secret persists across restarts", async () => {
    const s1 = await startServer();
    const first = readFileSync(join(s1.dataDir, "secret"), "utf8");
    await s1.stop();
    const s2 = await startServer({ dataDir: s1.dataDir, databaseUrl: s1.databaseUrl ?? null });
    expect(readFileSync(join(s1.dataDir, "secret"), "utf8")).toBe(first);
    await s2.stop();
  });

  test("one server per data dir: a second exits 1 naming the first; the dir is free once it stops or is killed", async () => {
    const dataDir = tempDir();
    const databaseUrl = await freshDatabaseUrl();
    const args = ["serve", "--port", "0", "--no-browser", "--data-dir", dataDir, ...(databaseUrl ? ["--database-url", databaseUrl] : [])];
    // Three at once: exactly one serves, the others are told who has the dir.
    const starters = [1, 2, 3].map(() => spawnWarren(args));
    const winner = await Promise.any(starters.map((p) => p.waitFor(/warren listening on (http:\/\/\S+)/).then(() => p)));
    const losers = starters.filter((p) => p !== winner);
    for (const p of losers) {
      expect(await p.exited).toBe(1);
      expect(p.stderr()).toContain(`another warren (pid ${winner.proc.pid}`);
      expect(p.stderr()).toContain(dataDir);
    }
    const secret = readFileSync(join(dataDir, "secret"), "utf8");
    expect(secret.trim().length).toBeGreaterThan(40);
    expect(readdirSync(dataDir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    // Once it is gone, even by kill -9, the next one starts: no stale lock after a crash.
    winner.proc.kill("SIGKILL");
    await winner.exited;
    const next = await startServer({ dataDir, databaseUrl: databaseUrl ?? null });
    expect(await next.stop()).toBe(0);
    const again = await startServer({ dataDir, databaseUrl: databaseUrl ?? null });
    expect(await again.stop()).toBe(0);
  });

  test("a group- or world-writable data dir is refused with the fix", async () => {
    for (const bad of [0o770, 0o707]) {
      const dataDir = join(tempDir(), "d");
      mkdirSync(dataDir);
      chmodSync(dataDir, bad);
      const r = await runWarren(["serve", "--port", "0", "--data-dir", dataDir]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("group- or world-writable");
      expect(r.stderr).toContain(`chmod 700 ${dataDir}`);
      expect(r.stdout).not.toContain("listening");
    }
  });

  test("a secret file readable by others is refused", async () => {
    const s = await startServer();
    await s.stop();
    chmodSync(join(s.dataDir, "secret"), 0o644);
    const r = await runWarren(["serve", "--port", "0", "--data-dir", s.dataDir, ...(s.databaseUrl ? ["--database-url", s.databaseUrl] : [])]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("readable by others");
  });

  test("a damaged secret is refused rather than replaced", async () => {
    const dataDir = tempDir();
    chmodSync(dataDir, 0o700);
    writeFileSync(join(dataDir, "secret"), "not-a-secret\n", { mode: 0o600 });
    const r = await runWarren(["serve", "--port", "0", "--data-dir", dataDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("damaged");
    expect(readFileSync(join(dataDir, "secret"), "utf8")).toBe("not-a-secret\n");
  });

  test("a data dir path that is a file is a clear error", async () => {
    const file = join(tempDir(), "f");
    writeFileSync(file, "x");
    const r = await runWarren(["serve", "--port", "0", "--data-dir", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("exists and is not a directory");
  });
});
