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

  /** The CLI with the given bytes as its whole stdin (a pipe that ends). */
  async function piped(args: string[], input: string) {
    const p = Bun.spawn([process.execPath, MAIN, ...args], { env: { ...process.env, ...env }, stdin: new TextEncoder().encode(input), stdout: "pipe", stderr: "pipe" });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr };
  }
  const newTerm = async (...cmd: string[]) => {
    const r = await runWarren(["term", "new", "--", ...cmd], { env });
    expect(r.code).toBe(0);
    return r.stdout.trim();
  };
  const shells = ["sh", ...(Bun.which("bash") ? [["bash", "--norc", "--noprofile", "-i"]] : [])];

  for (const shell of shells) {
    const cmd = typeof shell === "string" ? [shell] : shell;
    test(`piped input to ${cmd[0]}: the commands run, and its exit (or the end of input, as Ctrl-D) ends the attach with its status`, async () => {
      const hi = await piped(["term", "attach", await newTerm(...cmd)], "echo hi; exit\n");
      // After the echo of what was typed (and a prompt, perhaps): the command's own output.
      expect(hi.stdout).toMatch(/\bhi\r\n/);
      expect(hi.code).toBe(0);
      expect(hi.stderr).toContain("[exited with code 0]");

      const three = await piped(["term", "attach", await newTerm(...cmd)], "echo $((1+2))-x; exit 3\n");
      expect(three.stdout).toContain("3-x\r\n");
      expect(three.code).toBe(3);

      // No exit of its own: the end of input is Ctrl-D, which ends the shell.
      const eof = await piped(["term", "attach", await newTerm(...cmd)], "echo no-exit-$((2*3))\nfalse\n");
      expect(eof.stdout).toContain("no-exit-6\r\n");
      expect(eof.code).toBe(1);
    });
  }

  test("term new --attach: starts it and attaches at once; the id goes to stderr", async () => {
    const r = await piped(["term", "new", "--attach", "--", "sh"], "echo made-$((40+2)); exit 4\n");
    expect(r.stdout).toContain("made-42\r\n");
    expect(r.code).toBe(4);
    const id = /\[terminal (term_\S+);/.exec(r.stderr)?.[1];
    expect(id).toBeDefined();
    const ls = await runWarren(["term", "ls", "--json"], { env });
    expect((JSON.parse(ls.stdout) as { id: string; exit: { code: number } | null }[]).find((t) => t.id === id)?.exit?.code).toBe(4);

    const both = await runWarren(["term", "new", "--attach", "--json"], { env });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("--attach or --json");
    const help = await runWarren(["term", "new", "-h"], { env });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--attach");
  });

  test("a program that ignores the end of piped input is left running once quiet for --settle: detached, exit 1", async () => {
    const id = await newTerm("sh", "-c", "echo started; sleep 600");
    const r = await piped(["term", "attach", id, "--settle", "2s"], "");
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("started");
    expect(r.stderr).toContain("input ended, but the program neither exited nor printed anything for 2 s: detached, it is still running");
    expect(r.stderr).toContain(`warren term attach ${id} resumes`);
    const bad = await runWarren(["term", "attach", id, "--settle", "soon"], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--settle must be a duration");
    const ls = await runWarren(["term", "ls", "--json"], { env });
    expect((JSON.parse(ls.stdout) as { id: string; exit: unknown }[]).find((t) => t.id === id)?.exit).toBeNull();
    expect((await runWarren(["term", "kill", id], { env })).code).toBe(0);
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
