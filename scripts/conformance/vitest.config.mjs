// Vitest, run by scripts/conformance.ts. The suite's own CLI cannot be used from an npm install
// (0.3.6 asks vitest to run a file under dist/, which vitest's default globs leave out), so this
// config names our entry explicitly.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    root: import.meta.dirname,
    include: ["suite.mjs"],
    setupFiles: ["./credential.setup.mjs"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
