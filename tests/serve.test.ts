import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, DIALECT, freshDatabaseUrl, MAIN, runWarren, spawnWarren, startServer, tempDir } from "./harness";

afterAll(cleanup);

describe(`warren serve (${DIALECT})`, () => {
  test("prints the listening line with the real port and answers /healthz", async () => {
    const s = await startServer();
    expect(s.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.url).not.toEndWith(":0");
    const r = await fetch(`${s.url}/healthz`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("application/json");
    expect(await r.json()).toEqual({ status: "ok" });
    const head = await fetch(`${s.url}/healthz`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await s.stop()).toBe(0);
  });

  test("every flag can come from its WARREN_* variable", async () => {
    const dataDir = tempDir();
    const databaseUrl = await freshDatabaseUrl();
    const p = spawnWarren(["serve"], {
      env: { WARREN_PORT: "0", WARREN_DATA_DIR: dataDir, WARREN_NO_BROWSER: "1", WARREN_DATABASE_URL: databaseUrl, WARREN_HOST: "127.0.0.1" },
    });
    const [, url] = await p.waitFor(/warren listening on (\S+)/);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const [started] = await p.waitFor(/\{.*"msg":"started".*\}/, { stream: "stderr" });
    expect(JSON.parse(started)).toMatchObject({ database: DIALECT, location: databaseUrl ? expect.any(String) : `${dataDir}/warren.db` });
    p.proc.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  test("a flag wins over its environment variable", async () => {
    const s = await startServer({ env: { WARREN_PORT: "1" } });
    expect(s.url).not.toEndWith(":1");
    await s.stop();
  });

  test("remote policy: a non-loopback bind is refused without an https public URL", async () => {
    for (const extra of [[], ["--public-url", "http://warren.example.com"]]) {
      const r = await runWarren(["serve", "--host", "0.0.0.0", "--port", "0", "--data-dir", tempDir(), ...extra]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("refusing to listen on 0.0.0.0");
      expect(r.stderr).toContain("--public-url https://");
      expect(r.stdout).not.toContain("listening");
    }
  });

  test("remote policy: --public-url https://… starts and says where users reach it", async () => {
    const s = await startServer({ args: ["--host", "0.0.0.0", "--public-url", "https://warren.example.com"] });
    expect(s.stdout()).toContain("public url: https://warren.example.com");
    const port = new URL(s.url).port;
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    expect(s.logs().find((l) => l.msg === "started")).toMatchObject({ policy: "remote" });
    await s.stop();
  });

  test("remote policy: --insecure starts and warns", async () => {
    const s = await startServer({ args: ["--host", "0.0.0.0", "--insecure"] });
    expect(s.stderr()).toContain("--insecure");
    expect(s.logs().some((l) => l.level === "warn" && String(l.msg).includes("plain HTTP"))).toBe(true);
    await s.stop();
  });

  test("loopback addresses other than 127.0.0.1 keep the loopback policy", async () => {
    const s = await startServer({ args: ["--host", "localhost"] });
    expect(s.logs().find((l) => l.msg === "started")).toMatchObject({ policy: "loopback" });
    await s.stop();
  });

  test("a port in use is a clear failure (exit 1)", async () => {
    const a = await startServer();
    const port = new URL(a.url).port;
    // A replica of its installation (the same secret), so that the port is what stops it.
    const dataDir = tempDir();
    copyFileSync(join(a.dataDir, "secret"), join(dataDir, "secret"));
    const r = await runWarren(["serve", "--port", port, "--data-dir", dataDir, ...(a.databaseUrl ? ["--database-url", a.databaseUrl] : [])]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`port ${port}`);
    expect(r.stderr).toContain("already in use");
    await a.stop();
  });

  test("SIGTERM with idle keep-alive connections exits 0 promptly and logs the stop", async () => {
    const s = await startServer();
    await fetch(`${s.url}/healthz`, { keepalive: true });
    const t0 = Date.now();
    expect(await s.stop()).toBe(0);
    expect(Date.now() - t0).toBeLessThan(9_000);
    expect(s.logs().find((l) => l.msg === "stopped")).toMatchObject({ drained: true });
  });

  test("SIGINT stops gracefully too", async () => {
    const s = await startServer();
    s.proc.kill("SIGINT");
    expect(await s.exited).toBe(0);
  });

  // Within the drain bound (10 s): the contract holds whatever happened to the log.
  const stopsWithin = async (proc: Bun.Subprocess, signal: "SIGTERM" | "SIGINT") => {
    proc.kill(signal);
    const code = await Promise.race([proc.exited, Bun.sleep(10_000).then(() => "still running")]);
    if (code === "still running") proc.kill("SIGKILL");
    return code;
  };

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal} stops a server whose stdout and stderr readers went away (exit 0), after it served on`, async () => {
      const databaseUrl = await freshDatabaseUrl();
      const proc = Bun.spawn([process.execPath, MAIN, "serve", "--port", "0", "--no-browser", "--data-dir", tempDir(), ...(databaseUrl ? ["--database-url", databaseUrl] : [])], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      const reader = proc.stdout.getReader();
      let text = "";
      while (!/listening on (\S+)/.test(text)) text += new TextDecoder().decode((await reader.read()).value);
      const url = /listening on (\S+)/.exec(text)![1]!;
      // The terminal is closed, the log shipper died: both pipes lose their reader.
      await reader.cancel();
      await proc.stderr.cancel();
      for (let i = 0; i < 50; i++) expect((await fetch(`${url}/healthz`)).status).toBe(200);
      await Bun.sleep(100); // the log flushes into the closed pipe
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(await stopsWithin(proc, signal)).toBe(0);
    });
  }

  test("a log file on a full disk loses lines, never the server: it serves, and SIGTERM exits 0", async () => {
    const s = await startServer({ args: ["--log-file", "/dev/full"] });
    for (let i = 0; i < 200; i++) expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    await Bun.sleep(100);
    expect((await fetch(`${s.url}/no/such/route`)).status).toBe(404);
    expect(await stopsWithin(s.proc, "SIGTERM")).toBe(0);
  });
});
