// warren term new | ls | attach | kill against a real server; attach with stdin as a pipe
// (Ctrl-\ is the byte 0x1c either way).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { printedPairingToken } from "./auth-helpers";
import { cleanup, DIALECT, MAIN, runWarren, startServer, tempDir, waitUntil, type TestServer } from "./harness";

afterAll(cleanup);

describe(`warren term (${DIALECT})`, () => {
  let s: TestServer;
  let env: Record<string, string> = {};
  beforeAll(async () => {
    s = await startServer();
    await s.waitFor(/\/pair#token=/);
    env = { WARREN_HOME: tempDir() };
    expect((await runWarren(["auth", "login", `${s.url}/pair#token=${printedPairingToken(s)}`], { env })).code).toBe(0);
  });
  afterAll(() => s.stop());

  function attachCli(id: string) {
    const p = Bun.spawn([process.execPath, MAIN, "term", "attach", id], { env: { ...process.env, ...env }, stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    let out = "";
    (async () => {
      for await (const chunk of p.stdout as unknown as AsyncIterable<Uint8Array>) out += new TextDecoder().decode(chunk);
    })();
    return { p, out: () => out };
  }

  test("new, ls, attach, detach with Ctrl-\\, attach again: contiguous output, nothing repeated; kill", async () => {
    const created = await runWarren(["term", "new", "--", "sh", "-c", "i=0; while :; do i=$((i+1)); echo n-$i; sleep 0.05; done"], { env });
    expect(created.code).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(/^term_/);
    const ls = await runWarren(["term", "ls"], { env });
    expect(ls.stdout).toContain(id);

    const first = attachCli(id);
    await waitUntil(() => first.out().includes("n-5"), 10_000, "first attach output");
    first.p.stdin.write(new Uint8Array([0x1c]));
    first.p.stdin.end();
    expect(await first.p.exited).toBe(0);
    await Bun.sleep(500); // it keeps printing while nobody is attached

    const second = attachCli(id);
    await waitUntil(() => /n-\d+\r\n/.test(second.out()) && second.out().split("\r\n").length > 5, 10_000, "second attach output");
    second.p.stdin.write(new Uint8Array([0x1c]));
    second.p.stdin.end();
    expect(await second.p.exited).toBe(0);

    const numbers = (first.out() + second.out()).split("\r\n").filter(Boolean).map((l) => Number(l.replace("n-", "")));
    expect(numbers[0]).toBe(1);
    numbers.forEach((n, i) => expect(n).toBe(i + 1)); // contiguous: no gap, no repeat

    const killed = await runWarren(["term", "kill", id], { env });
    expect(killed.code).toBe(0);
    await waitUntil(async () => (await runWarren(["term", "ls"], { env })).stdout.includes("exited SIGHUP"), 10_000, "the kill");
  });

  test("attach exits with the program's exit code and forwards input", async () => {
    const id = (await runWarren(["term", "new", "--", "sh", "-c", "read x; echo got-$x; exit 7"], { env })).stdout.trim();
    const a = attachCli(id);
    a.p.stdin.write("hello\n");
    expect(await a.p.exited).toBe(7);
    expect(a.out()).toContain("got-hello");
  });

  test("attaching to a terminal that is not there says so", async () => {
    const r = await runWarren(["term", "attach", "term_nope"], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no terminal term_nope");
    const anon = await runWarren(["term", "attach", "term_nope", "--server", s.url], { env: { WARREN_HOME: tempDir() } });
    expect(anon.code).toBe(1);
    expect(anon.stderr).toContain("HTTP 401");
  });
});
