// The server log: JSON lines to stderr or --log-file. Lines are buffered and written in batches
// so that logging every request stays off the hot path; close() flushes what is left.
// Logging never stops the server: a destination that fails (a pipe whose reader went away, a
// full disk, a non-blocking pipe that is full) loses those lines, counts the failure, and is
// never waited on — a server whose log pipe has closed still serves and still stops on SIGTERM.
import { openSync, writeSync } from "node:fs";

export type Fields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  flush(): void;
  close(): void;
  /** How many writes to the destination failed (their lines are lost). */
  writeErrors(): number;
}

const FLUSH_MS = 25;
const FLUSH_BYTES = 64 * 1024;
/** Errors after which the destination is gone for good: nothing more is tried. */
const GONE = new Set(["EPIPE", "EBADF", "ECONNRESET", "EINVAL"]);

export function createLogger(file?: string): Logger {
  const fd = file ? openSync(file, "a", 0o600) : 2;
  let pending: string[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let errors = 0;
  let gone = false;

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const bytes = Buffer.from(pending.join(""));
    pending = [];
    size = 0;
    if (gone) return void errors++;
    try {
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
    } catch (e) {
      errors++;
      if (GONE.has((e as NodeJS.ErrnoException).code ?? "")) gone = true;
    }
  };
  const write = (level: string, msg: string, fields?: Fields) => {
    const rest = fields ? JSON.stringify(fields) : "{}";
    const line = `{"time":"${new Date().toISOString()}","level":"${level}","msg":${JSON.stringify(msg)}${rest === "{}" ? "}" : "," + rest.slice(1)}\n`;
    pending.push(line);
    size += line.length;
    if (closed || size >= FLUSH_BYTES) flush();
    else timer ??= setTimeout(flush, FLUSH_MS);
  };
  return {
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    flush,
    // The fd stays open: a response finishing during shutdown may still log, now unbuffered,
    // and the process exit closes it.
    close() {
      flush();
      closed = true;
    },
    writeErrors: () => errors,
  };
}

// The redaction rule (SPEC §1, §2.2): anything shaped like one of our credentials, a JWT, an
// Authorization value or a credential-bearing query parameter is masked before it is logged.
const CREDENTIAL = new RegExp(
  [
    String.raw`\b(?:wss|sk_live)_[A-Za-z0-9_-]+`,
    String.raw`\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`,
    String.raw`\b(?:Bearer|Basic)\s+[^\s"',;]+`,
  ].join("|"),
  "gi",
);
const CREDENTIAL_PARAM = /([?&#;](?:token|ticket|key|api_key|apikey|code|secret|password|session)=)[^&#\s"]*/gi;

const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)[^@\s/]+@/gi;

export function redact(text: string): string {
  return text.replace(CREDENTIAL, "[redacted]").replace(CREDENTIAL_PARAM, "$1[redacted]").replace(URL_PASSWORD, "$1[redacted]@");
}
