// The compiled binary is what people download: it must work alone in an empty directory, with its
// migrations inside (an embedded file the bundler never saw referenced would be missing here).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { cleanup, DIALECT, query, ROOT, runWarren, startServer, tempDir } from "./harness";
import { attach } from "./term-helpers";

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
    expect((await fetch(`${s.url}/assets/xterm.mjs`)).status).toBe(200);
    expect(await (await fetch(`${s.url}/assets/protocol.js`)).text()).toContain("parseServer");
    // A terminal end to end, from the binary: PTY, WebSocket, every byte, the exit code.
    const token = /#token=(\S+)/.exec(s.stdout())![1]!;
    const { sessionToken } = (await (await fetch(`${s.url}/api/auth/pair`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token, client: "cli" }) })).json()) as { sessionToken: string };
    const created = await fetch(`${s.url}/api/hosts/local/terminals`, {
      method: "POST",
      headers: { authorization: `Bearer ${sessionToken}`, "content-type": "application/json" },
      body: JSON.stringify({ cmd: ["sh", "-c", "seq 1 20000; exit 3"] }),
    });
    const { id } = (await created.json()) as { id: string };
    const term = await attach(`${s.url.replace("http", "ws")}/api/hosts/local/terminals/${id}/attach`, { headers: { authorization: `Bearer ${sessionToken}` } }).result;
    expect(new TextDecoder().decode(term.output).split("\r\n").filter(Boolean).at(-1)).toBe("20000");
    expect(term.exit?.code).toBe(3);
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
