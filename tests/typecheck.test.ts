import { expect, test } from "bun:test";
import { DIALECT } from "./harness";

// Type-checking is part of the suite: among other things it runs server/db/typecheck.ts, the proof
// that the SQLite and Postgres schemas give identical row types. Once per CI run is enough.
test.if(DIALECT === "sqlite")("the whole project type-checks (strict)", () => {
  const p = Bun.spawnSync([process.execPath, "x", "tsc", "-p", "."], { cwd: `${import.meta.dir}/..`, stdout: "pipe", stderr: "pipe" });
  expect(p.stdout.toString() + p.stderr.toString()).toBe("");
  expect(p.exitCode).toBe(0);
}, 120_000);
