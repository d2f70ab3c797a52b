// The one flag parser every command uses: flags, their WARREN_* env fallbacks, --help text and
// usage errors come from a single declaration per command, so help and behaviour cannot drift.
import { parseArgs } from "node:util";

export type FlagType = "string" | "boolean" | "list";

export interface FlagSpec {
  type: FlagType;
  help: string;
  /** Environment variable consulted when the flag is absent. */
  env?: string;
  /** Shown in help as `--flag <value>`. */
  value?: string;
  default?: string;
}

export interface CommandSpec {
  /** e.g. "serve" or "stream append". */
  name: string;
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  /** Free text appended to --help (examples, notes). */
  details?: string;
}

export type ParsedFlags = Record<string, string | boolean | string[] | undefined>;

/** Bad command-line input: the CLI prints it with a pointer to --help and exits 2. */
export class UsageError extends Error {
  constructor(message: string, readonly command: string) {
    super(message);
  }
}

export function helpText(spec: CommandSpec): string {
  const lines = [spec.summary, "", `Usage: ${spec.usage}`];
  const entries: [string, FlagSpec][] = [...Object.entries(spec.flags), ["help", { type: "boolean", help: "Show this help" }]];
  {
    lines.push("", "Flags:");
    const left = entries.map(([name, f]) => `  --${name}${f.type === "boolean" ? "" : ` <${f.value ?? "value"}>`}`);
    const width = Math.max(...left.map((l) => l.length)) + 2;
    entries.forEach(([, f], i) => {
      const extra = [f.default !== undefined ? `default ${f.default}` : "", f.env ? `env ${f.env}` : ""]
        .filter(Boolean)
        .join("; ");
      lines.push(`${left[i]!.padEnd(width)}${f.help}${extra ? ` (${extra})` : ""}`);
    });
  }
  if (spec.details) lines.push("", spec.details.trimEnd());
  return lines.join("\n") + "\n";
}

/**
 * Parses argv for one command. Returns null when --help was asked for (the caller prints help).
 * Env fallbacks apply only to flags not given on the command line.
 */
export function parseFlags(
  spec: CommandSpec,
  argv: string[],
  env: Record<string, string | undefined> = process.env,
): { flags: ParsedFlags; positionals: string[] } | null {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }> = { help: { type: "boolean", short: "h" } };
  for (const [name, f] of Object.entries(spec.flags)) {
    options[name] = { type: f.type === "boolean" ? "boolean" : "string", multiple: f.type === "list" };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(explainParseError(e, spec), spec.name);
  }
  if (parsed.values.help) return null;
  const flags: ParsedFlags = {};
  for (const [name, f] of Object.entries(spec.flags)) {
    const given = parsed.values[name] as string | boolean | string[] | undefined;
    if (given !== undefined) {
      flags[name] = given;
      continue;
    }
    const fromEnv = f.env ? env[f.env] : undefined;
    if (fromEnv !== undefined && fromEnv !== "") {
      if (f.type === "boolean") flags[name] = parseBoolEnv(fromEnv, f.env!, spec.name);
      else if (f.type === "list") flags[name] = fromEnv.split(",").map((s) => s.trim()).filter(Boolean);
      else flags[name] = fromEnv;
    } else if (f.default !== undefined) {
      flags[name] = f.type === "boolean" ? f.default === "true" : f.type === "list" ? [f.default] : f.default;
    }
  }
  return { flags, positionals: parsed.positionals };
}

function parseBoolEnv(value: string, name: string, command: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new UsageError(`${name} must be true or false, got "${value}"`, command);
}

function explainParseError(e: unknown, spec: CommandSpec): string {
  const err = e as { code?: string; message?: string };
  const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(err.message ?? "");
  if (unknown) {
    const flag = unknown[1]!;
    const hint = closest(flag.replace(/^-+/, "").split("=")[0]!, [...Object.keys(spec.flags), "help"]);
    return `unknown flag ${flag}` + (hint ? ` (did you mean --${hint}?)` : "");
  }
  const missing = /Option '(-{1,2}[^ ']+)[^']*' argument missing/.exec(err.message ?? "");
  if (missing) return `flag ${missing[1]} needs a value`;
  const positional = /Unexpected argument '([^']+)'/.exec(err.message ?? "");
  if (positional) return `unexpected argument "${positional[1]}"`;
  return (err.message ?? String(e)).split("\n")[0]!;
}

/** The nearest candidate within edit distance 2, or a prefix match; null when nothing is close. */
export function closest(word: string, candidates: string[]): string | null {
  let best: string | null = null;
  let bestDistance = 3;
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 2 ? 1 : editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}
