// The data dir and the secret files in it (SPEC §2.4 rule 14): the dir is private (0700) and
// must stay so, secrets are 0600 and never seen half-written.
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";

const posix = process.platform !== "win32";

/** A refusal to start that the operator can fix; the CLI prints the message and exits 1. */
export class StartupError extends Error {}

export function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EEXIST" || code === "ENOTDIR") throw new StartupError(`data dir ${dir} exists and is not a directory`);
    throw new StartupError(`cannot create data dir ${dir}: ${(e as Error).message}`);
  }
  const st = statSync(dir);
  if (!st.isDirectory()) throw new StartupError(`data dir ${dir} is not a directory`);
  if (!posix) return;
  if (st.mode & 0o022) {
    const mode = (st.mode & 0o777).toString(8);
    throw new StartupError(
      `refusing to start: data dir ${dir} is group- or world-writable (mode ${mode}); fix it with: chmod 700 ${dir}`,
    );
  }
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new StartupError(`refusing to start: data dir ${dir} belongs to uid ${st.uid}, not to this user (uid ${uid})`);
  }
}

/**
 * Reads the secret file `name`, creating it with `make()` if it is absent. Creation writes a
 * private temp file, fsyncs it and hard-links it into place: the link fails if another process
 * got there first, so concurrent starters all end up with the same secret, never a torn one.
 */
export function readOrCreateSecret(dir: string, name: string, make: () => string): string {
  const path = join(dir, name);
  try {
    return readSecret(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, make());
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    syncDir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  } finally {
    unlinkSync(tmp);
  }
  return readSecret(path);
}

/** Replaces (or creates) a secret file atomically: a private temp file, fsynced, renamed over. */
export function writeSecretFile(dir: string, name: string, content: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${name}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  syncDir(dir);
}

export function readSecret(path: string): string {
  const st = statSync(path);
  if (posix && st.mode & 0o077) {
    const mode = (st.mode & 0o777).toString(8);
    throw new StartupError(`refusing to start: ${path} is readable by others (mode ${mode}); fix it with: chmod 600 ${path}`);
  }
  return readFileSync(path, "utf8").trim();
}

function syncDir(dir: string) {
  if (!posix) return;
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The server secret: 32 random bytes that later modules derive encryption keys from. */
export function serverSecret(dir: string): Buffer {
  const text = readOrCreateSecret(dir, "secret", () => randomBytes(32).toString("base64url") + "\n");
  const secret = Buffer.from(text, "base64url");
  if (secret.length !== 32) {
    throw new StartupError(`refusing to start: ${join(dir, "secret")} is damaged (expected 32 bytes of base64url)`);
  }
  return secret;
}
