// What a CLI command is: its declared flags (cli/flags.ts) and what it does. Exit codes: 0 ok,
// 1 failure, 2 usage (SPEC §6).
import type { CommandSpec, ParsedFlags } from "./flags";

export interface Command {
  spec: CommandSpec;
  run(flags: ParsedFlags, positionals: string[]): Promise<number>;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
