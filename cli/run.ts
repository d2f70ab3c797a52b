// Dispatch: `warren <command> [flags]`, help at every level, and the mapping of failures to exit
// codes (usage 2, anything else 1) with one line that says what went wrong.
import { ConfigError, StartupError } from "../server";
import { EXIT_FAILURE, EXIT_USAGE, type Command } from "./command";
import { closest, helpText, parseFlags, UsageError } from "./flags";
import { ClientError } from "./client";
import { check, login, logout } from "./commands/auth";
import { create as apikeyCreate, list as apikeyList, revoke as apikeyRevoke } from "./commands/apikey";
import { rotate } from "./commands/keys";
import { streamAppend, streamCreate, streamLs, streamRead, streamRm, streamTail } from "./commands/stream";
import { termAttach, termKill, termLs, termNew } from "./commands/term";
import { hostLs, hostRename, hostRm, hostStart, hostStatus, hostStop } from "./commands/host";
import { pair } from "./commands/pair";
import { backup, restore } from "./commands/backup";
import { doctor } from "./commands/doctor";
import { audit } from "./commands/audit";
import { completion } from "./commands/completion";
import { serve } from "./commands/serve";
import { version, VERSION } from "./commands/version";

const commands: Command[] = [serve, pair, login, check, logout, apikeyCreate, apikeyList, apikeyRevoke, hostStart, hostStatus, hostStop, hostLs, hostRm, hostRename, termNew, termLs, termAttach, termKill, streamCreate, streamAppend, streamRead, streamTail, streamLs, streamRm, audit, rotate, backup, restore, doctor, completion(() => commands), version];

function topHelp(): string {
  const width = Math.max(...commands.map((c) => c.spec.name.length)) + 3;
  return [
    `warren ${VERSION} — the self-hosted server side of remote development: auth, streams, relay, terminals.`,
    "",
    "Usage: warren <command> [flags]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.summary}`),
    "",
    `Run "warren <command> --help" for a command's flags.`,
    "",
  ].join("\n");
}

export async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const target = name === "help" && rest[0] ? find(rest[0]) : undefined;
    process.stdout.write(target ? helpText(target.spec) : topHelp());
    return 0;
  }
  if (name === "--version" || name === "-v") return version.run({}, []);
  // Two-word commands ("auth login") are found by their first two words.
  const twoWord = rest[0] && !rest[0].startsWith("-") ? find(`${name} ${rest[0]}`) : undefined;
  const command = twoWord ?? find(name);
  const args = twoWord ? rest.slice(1) : rest;
  if (!command) {
    const group = commands.filter((c) => c.spec.name.startsWith(`${name} `));
    if (group.length > 0) {
      const wanted = rest[0] && !rest[0].startsWith("-") ? `unknown command "${name} ${rest[0]}"` : null;
      const list = group.map((c) => `  warren ${c.spec.name.padEnd(14)}${c.spec.summary}`).join("\n");
      if (!wanted && (rest.includes("--help") || rest.includes("-h"))) {
        process.stdout.write(`Commands:\n${list}\n`);
        return 0;
      }
      console.error(`warren ${name}: ${wanted ?? "which one?"}\n${list}`);
      return EXIT_USAGE;
    }
    const hint = closest(name, commands.map((c) => c.spec.name.split(" ")[0]!));
    return usage(`unknown command "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}`, undefined);
  }
  try {
    const parsed = parseFlags(command.spec, args);
    if (!parsed) {
      process.stdout.write(helpText(command.spec));
      return 0;
    }
    return await command.run(parsed.flags, parsed.positionals);
  } catch (e) {
    if (e instanceof UsageError || e instanceof ConfigError) return usage(e.message, command);
    const message = e instanceof StartupError || e instanceof ClientError ? e.message : (e as Error)?.message ?? String(e);
    console.error(`warren ${command.spec.name}: ${message}`);
    return EXIT_FAILURE;
  }
}

function find(name: string): Command | undefined {
  return commands.find((c) => c.spec.name === name);
}

function usage(message: string, command: Command | undefined): number {
  const where = command ? `warren ${command.spec.name}` : "warren";
  console.error(`${where}: ${message}\nRun "${where} --help" for usage.`);
  return EXIT_USAGE;
}
