#!/usr/bin/env bun
// The `warren` executable (package.json "bin", and the entry of the compiled binaries).
// It exports nothing on purpose: a --bytecode build breaks entry files that export.
import { run } from "./run";

process.exitCode = await run(process.argv.slice(2));
