// warren completion bash|zsh|fish: the bash script is loaded into a real bash and its completion
// function called as bash would (COMP_WORDS, COMP_CWORD); zsh and fish scripts are parsed by those
// shells when they are installed (`zsh -n`, `fish -n`), and skipped with a note when not.
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanup, runWarren, tempDir } from "./harness";

afterAll(cleanup);

/** Completions bash offers for each command line (the last word is the one being completed). */
async function complete(script: string, lines: string[][]): Promise<string[][]> {
  const dir = tempDir();
  const file = join(dir, "warren.bash");
  writeFileSync(file, script);
  const calls = lines.map((words) => `t ${words.map((w) => `'${w}'`).join(" ")}`).join("\n");
  const program = `source '${file}' || exit 9
complete -p warren || exit 8
t() { COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _warren; echo "\${COMPREPLY[*]}"; }
${calls}
`;
  const p = Bun.spawn(["bash", "--norc", "--noprofile", "-c", program], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  expect(err).toBe("");
  expect(code).toBe(0);
  const [registered, ...answers] = out.split("\n");
  expect(registered).toBe("complete -o default -F _warren warren");
  return answers.slice(0, lines.length).map((a) => (a ? a.split(" ") : []));
}

describe("warren completion", () => {
  test("bash: command names, subcommands of two-word commands, each command's flags", async () => {
    const r = await runWarren(["completion", "bash"]);
    expect(r.code).toBe(0);
    const help = await runWarren(["--help"]);
    const commands = help.stdout
      .split("\n")
      .map((l) => /^ {2}(\S+(?: \S+)?)\s{2,}/.exec(l)?.[1])
      .filter((c): c is string => !!c);
    expect(commands).toContain("stream ls");
    const groups = [...new Set(commands.filter((c) => c.includes(" ")).map((c) => c.split(" ")[0]!))];

    const [st, stream, termNew, termNewA, top, afterValue, afterDashDash, help2, shells, ...perGroup] = await complete(r.stdout, [
      ["warren", "st"],
      ["warren", "stream", ""],
      ["warren", "term", "new", "--"],
      ["warren", "term", "new", "--host", "local", "--a"],
      ["warren", ""],
      ["warren", "stream", "ls", "--prefix", ""],
      ["warren", "term", "new", "--", "--"],
      ["warren", "help", "ter"],
      ["warren", "completion", ""],
      ...groups.map((g) => ["warren", g, ""]),
    ]);
    expect(st).toEqual(["stream"]);
    expect(stream).toEqual(["create", "append", "read", "tail", "ls", "rm"]);
    expect(termNew).toEqual(expect.arrayContaining(["--server", "--api-key", "--host", "--cwd", "--attach", "--json", "--help"]));
    expect(termNew!.every((f) => f.startsWith("--"))).toBe(true);
    expect(termNewA).toEqual(["--api-key", "--attach"]);
    // Every first word of the registry, and nothing else but help.
    expect(top!.sort()).toEqual([...new Set([...commands.map((c) => c.split(" ")[0]!), "help"])].sort());
    // A flag's value and a program's own arguments are left to the shell's default (files).
    expect(afterValue).toEqual([]);
    expect(afterDashDash).toEqual([]);
    expect(help2).toEqual(["term"]);
    expect(shells).toEqual(["bash", "zsh", "fish"]);
    groups.forEach((g, i) => expect(perGroup[i]).toEqual(commands.filter((c) => c.startsWith(`${g} `)).map((c) => c.split(" ")[1]!)));

    // The flags are those --help declares.
    const [lsFlags] = await complete(r.stdout, [["warren", "stream", "ls", "-"]]);
    const lsHelp = (await runWarren(["stream", "ls", "--help"])).stdout;
    const declared = [...lsHelp.matchAll(/^ {2}(--[\w-]+)/gm)].map((m) => m[1]!);
    expect(declared).toContain("--prefix");
    expect(lsFlags!.filter((f) => f !== "-h").sort()).toEqual(declared.sort());
  });

  for (const shell of ["zsh", "fish"] as const) {
    const path = Bun.which(shell);
    test.skipIf(!path)(`${shell}: the script parses (${shell} -n)${path ? "" : ` — skipped: ${shell} is not installed here`}`, async () => {
      const r = await runWarren(["completion", shell]);
      expect(r.code).toBe(0);
      const file = join(tempDir(), `warren.${shell}`);
      writeFileSync(file, r.stdout);
      const p = Bun.spawn([path!, "-n", file], { stdout: "pipe", stderr: "pipe" });
      const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
      expect(err).toBe("");
      expect(code).toBe(0);
    });
  }

  test("zsh and fish scripts name every command and the flags of each", async () => {
    const zsh = (await runWarren(["completion", "zsh"])).stdout;
    expect(zsh.startsWith("#compdef warren\n")).toBe(true);
    expect(zsh).toContain("'stream ls') flags=(");
    expect(zsh).toContain("'--prefix:Only streams whose path starts with this");
    expect(zsh).toContain("compdef _warren warren");
    const fish = (await runWarren(["completion", "fish"])).stdout;
    expect(fish).toContain("complete -c warren -n '__fish_seen_subcommand_from term; and __fish_seen_subcommand_from new' -l attach");
    expect(fish).toContain("complete -c warren -n '__fish_seen_subcommand_from stream; and __fish_seen_subcommand_from ls' -l prefix -r");
  });

  test("a shell it does not know, or none, is a usage error; -h works", async () => {
    const none = await runWarren(["completion"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("which shell? bash, zsh or fish");
    const tcsh = await runWarren(["completion", "tcsh"]);
    expect(tcsh.code).toBe(2);
    expect(tcsh.stderr).toContain(`no completion for "tcsh"`);
    const help = await runWarren(["completion", "-h"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Usage: warren completion bash|zsh|fish");
  });
});
