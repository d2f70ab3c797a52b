// The compiled binary is what people download: it must work alone in an empty directory, with its
// migrations inside (an embedded file the bundler never saw referenced would be missing here).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { cleanup, DIALECT, query, ROOT, runWarren, startServer, tempDir } from "./harness";

afterAll(cleanup);

const host = `${process.platform === "darwin" ? "darwin" : "linux"}-${process.arch === "arm64" ? "arm64" : "x64"}`;

describe.if(process.platform !== "win32")(`compiled binary (${DIALECT})`, () => {
  let dir = "";
  let bin = "";
  beforeAll(() => {
    const build = Bun.spawnSync([process.execPath, "scripts/build.ts", "--target", host], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    expect(build.exitCode).toBe(0);
    expect(build.stdout.toString()).toContain(`ok   ${host}`);
    dir = tempDir("warren-bin-");
    bin = join(dir, "warren");
    copyFileSync(join(ROOT, "dist", `warren-${host}`), bin);
  }, 120_000);

  test("runs alone in an empty directory: version, serve, /healthz, migrations, SIGTERM", async () => {
    expect(readdirSync(dir)).toEqual(["warren"]);
    const v = await runWarren(["version"], { cmd: [bin], cwd: dir });
    expect(v.code).toBe(0);
    expect(v.stdout).toStartWith("warren ");
    const s = await startServer({ cmd: [bin], cwd: dir });
    const r = await fetch(`${s.url}/healthz`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ status: "ok" });
    // Web pages and their assets are inside the binary too.
    const page = await fetch(`${s.url}/pair`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain("Sign in to Warren");
    expect((await fetch(`${s.url}/assets/pair.js`)).status).toBe(200);
    expect(s.stdout()).toContain("/pair#token=");
    expect(await s.stop()).toBe(0);
    const applied = await query(s, "SELECT tag FROM warren_migrations");
    expect(applied.length).toBeGreaterThan(0);
  });

  test("usage errors behave the same as from source", async () => {
    const r = await runWarren(["serve", "--prot", "1"], { cmd: [bin], cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("did you mean --port");
  });
});
