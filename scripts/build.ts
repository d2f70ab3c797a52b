// `bun run build`: compiles cli/main.ts into one self-contained `warren` executable per platform,
// so a release is a single file to copy onto a machine — no Bun, no node_modules, no migrations
// directory beside it (the SQL is imported as text and so lands inside the binary).
// Cross targets work from any host: Bun fetches each target's runtime from the npm registry once
// (~50 MB, cached in ~/.bun/install/cache).
import { mkdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";

const TARGETS = ["linux-x64", "linux-arm64", "darwin-arm64", "darwin-x64", "windows-x64"] as const;
type Target = (typeof TARGETS)[number];

const ROOT = join(import.meta.dir, "..");
const ENTRY = join(ROOT, "cli/main.ts");
const DIST = join(ROOT, "dist");

const HELP = `Usage: bun run build [--target <t>]...

Compiles cli/main.ts into standalone executables in dist/: warren-<target> (warren-windows-x64.exe).

Flags:
  --target <t>  Build only this target; repeatable. Default: all of
                ${TARGETS.join(", ")}
  -h, --help    Show this help
`;

function usage(message: string): never {
  console.error(`build: ${message}\nRun "bun run build --help" for usage.`);
  process.exit(2);
}

function parseTargets(argv: string[]): Target[] {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { target: { type: "string", multiple: true }, help: { type: "boolean", short: "h" } },
    }).values;
  } catch (e) {
    usage((e as Error).message);
  }
  if (parsed.help) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const wanted = parsed.target ?? [...TARGETS];
  for (const t of wanted) {
    if (!(TARGETS as readonly string[]).includes(t)) usage(`unknown target "${t}" (known: ${TARGETS.join(", ")})`);
  }
  return [...new Set(wanted as Target[])];
}

function outfile(target: Target): string {
  return join(DIST, `warren-${target}${target.startsWith("windows") ? ".exe" : ""}`);
}

// Bun.build throws an AggregateError of BuildMessages; flatten it to something one line can hold.
function reason(e: unknown): string {
  const errors = e instanceof AggregateError ? e.errors : [e];
  return errors.map((x) => String((x as Error)?.message ?? x)).join("; ");
}

async function build(target: Target): Promise<number> {
  const file = outfile(target);
  await Bun.build({
    entrypoints: [ENTRY],
    minify: true,
    // Precompiled bytecode more than halves start-up (`warren version`: ~35 ms vs ~90 ms). It needs
    // ESM: bytecode defaults to CJS, which rejects main.ts's top-level await.
    bytecode: true,
    format: "esm",
    compile: {
      target: `bun-${target}`,
      outfile: file,
      // The server's behaviour should follow its flags, not a bunfig.toml in whatever directory
      // it happens to be started from.
      autoloadBunfig: false,
    },
  });
  return (await stat(file)).size;
}

const targets = parseTargets(process.argv.slice(2));
await mkdir(DIST, { recursive: true });

const failed: string[] = [];
const started = performance.now();
for (const target of targets) {
  console.log(`building ${target} …`);
  const t0 = performance.now();
  try {
    const size = await build(target);
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(`  ok   ${target}  ${(size / 1e6).toFixed(1)} MB  ${secs}s  → ${relative(ROOT, outfile(target))}`);
  } catch (e) {
    console.error(`  FAIL ${target}: ${reason(e)}`);
    failed.push(target);
  }
}

const total = ((performance.now() - started) / 1000).toFixed(1);
const built = targets.length - failed.length;
console.log(`\n${built}/${targets.length} targets built in ${total}s${failed.length ? `; failed: ${failed.join(", ")}` : ""}`);
process.exit(failed.length ? 1 : 0);
