import { afterAll, describe, expect, test } from "bun:test";
import pkg from "../package.json" with { type: "json" };
import { cleanup, runWarren } from "./harness";

afterAll(cleanup);

describe("warren CLI frame", () => {
  test("--help lists the commands and exits 0", async () => {
    const r = await runWarren(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Usage: warren <command>");
    expect(r.stdout).toMatch(/^\s+serve\s+/m);
    expect(r.stdout).toMatch(/^\s+version\s+/m);
  });

  test("no arguments prints the same help", async () => {
    const r = await runWarren([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Commands:");
  });

  test("every command answers --help with its own usage", async () => {
    for (const cmd of ["serve", "pair", "auth login", "auth check", "auth logout", "apikey create", "apikey list", "apikey revoke", "term new", "term ls", "term attach", "term kill", "keys rotate", "version"]) {
      const r = await runWarren([...cmd.split(" "), "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: warren ${cmd}`);
      expect(r.stdout).toContain("--help");
    }
    const viaHelp = await runWarren(["help", "serve"]);
    expect(viaHelp.stdout).toContain("Usage: warren serve");
  });

  test("serve --help names every flag and its WARREN_* variable", async () => {
    const r = await runWarren(["serve", "--help"]);
    for (const flag of ["port", "host", "data-dir", "database-url", "public-url", "long-poll-timeout", "bootstrap-token", "insecure", "no-browser"]) {
      expect(r.stdout).toContain(`--${flag}`);
      expect(r.stdout).toContain(`WARREN_${flag.toUpperCase().replace(/-/g, "_")}`);
    }
  });

  test("version prints the package version, also as JSON and as --version", async () => {
    const r = await runWarren(["version"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`warren ${pkg.version}`);
    const j = await runWarren(["version", "--json"]);
    expect(JSON.parse(j.stdout)).toMatchObject({ version: pkg.version, bun: Bun.version });
    expect((await runWarren(["--version"])).stdout).toContain(pkg.version);
  });

  test("a command group lists its commands; an unknown one is a usage error", async () => {
    const help = await runWarren(["auth", "--help"]);
    expect(help.code).toBe(0);
    for (const sub of ["login", "check", "logout"]) expect(help.stdout).toContain(`warren auth ${sub}`);
    const bare = await runWarren(["auth"]);
    expect(bare.code).toBe(2);
    const wrong = await runWarren(["auth", "logn"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain('unknown command "auth logn"');
  });

  test("an unknown command is a usage error (exit 2) with a hint", async () => {
    const r = await runWarren(["serv"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "serv"');
    expect(r.stderr).toContain('did you mean "serve"');
  });

  test("an unknown flag is a usage error (exit 2) with a hint", async () => {
    const r = await runWarren(["serve", "--prot", "1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown flag --prot");
    expect(r.stderr).toContain("did you mean --port");
    expect(r.stderr).toContain("warren serve --help");
  });

  test("a flag without its value is a usage error", async () => {
    const r = await runWarren(["serve", "--port"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--port");
  });

  test("bad flag values are usage errors that say what is expected", async () => {
    const cases: [string[], string][] = [
      [["--port", "http"], "--port must be a number"],
      [["--port", "70000"], "--port must be a number"],
      [["--long-poll-timeout", "30"], "--long-poll-timeout must be a duration"],
      [["--long-poll-timeout", "2h"], "--long-poll-timeout must be between"],
      [["--database-url", "mysql://x"], "--database-url must be a postgres://"],
      [["--public-url", "warren.example.com"], "--public-url must be an absolute URL"],
      [["--public-url", "https://w.example.com/app"], "origin only"],
    ];
    for (const [args, message] of cases) {
      const r = await runWarren(["serve", ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    }
  });

  test("a bad bootstrap token is refused without being echoed", async () => {
    const r = await runWarren(["serve", "--bootstrap-token", "short-secret-value"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--bootstrap-token must be");
    expect(r.stderr).not.toContain("short-secret-value");
  });

  test("a bad boolean in the environment is a usage error", async () => {
    const r = await runWarren(["serve"], { env: { WARREN_INSECURE: "maybe" } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("WARREN_INSECURE must be true or false");
  });
});
