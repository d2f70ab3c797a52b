// The server log: one line per event, to stderr or --log-file — JSON for machines, or a short
// line for a person reading a terminal. Lines are buffered and written in batches so that logging
// every request stays off the hot path; close() flushes what is left.
// Logging never stops the server: a destination that fails (a pipe whose reader went away, a
// full disk, a non-blocking pipe that is full) loses those lines, counts the failure, and is
// never waited on — a server whose log pipe has closed still serves and still stops on SIGTERM.
import { openSync, writeSync } from "node:fs";

export type Fields = Record<string, unknown>;

export const LEVELS = ["error", "warn", "info", "debug"] as const;
export type Level = (typeof LEVELS)[number];
export type LogFormat = "json" | "text";

export interface Logger {
  error(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  debug(msg: string, fields?: Fields): void;
  /** Whether lines of this level are written: a caller skips building fields nobody reads. */
  enabled(level: Level): boolean;
  flush(): void;
  close(): void;
  /** How many writes to the destination failed (their lines are lost). */
  writeErrors(): number;
}

export interface LogOptions {
  /** Append here instead of stderr. */
  file?: string;
  /** Lines below this level are not written (default info). */
  level?: Level;
  /** Default: text when the destination is a terminal, JSON otherwise. */
  format?: LogFormat;
}

const FLUSH_MS = 25;
const FLUSH_BYTES = 64 * 1024;
/** Errors after which the destination is gone for good: nothing more is tried. */
const GONE = new Set(["EPIPE", "EBADF", "ECONNRESET", "EINVAL"]);

export function createLogger(o: LogOptions = {}): Logger {
  const fd = o.file ? openSync(o.file, "a", 0o600) : 2;
  const format = o.format ?? (!o.file && process.stderr.isTTY ? "text" : "json");
  const threshold = LEVELS.indexOf(o.level ?? "info");
  const line = format === "json" ? jsonLine : textLine;
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
  const at = (level: Level) => {
    if (LEVELS.indexOf(level) > threshold) return () => {};
    return (msg: string, fields?: Fields) => {
      const text = line(level, msg, fields);
      pending.push(text);
      size += text.length;
      if (closed || size >= FLUSH_BYTES) flush();
      else timer ??= setTimeout(flush, FLUSH_MS);
    };
  };
  return {
    error: at("error"),
    warn: at("warn"),
    info: at("info"),
    debug: at("debug"),
    enabled: (level) => LEVELS.indexOf(level) <= threshold,
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

function jsonLine(level: Level, msg: string, fields?: Fields): string {
  const rest = fields ? JSON.stringify(fields) : "{}";
  return `{"time":"${new Date().toISOString()}","level":"${level}","msg":${JSON.stringify(msg)}${rest === "{}" ? "}" : "," + rest.slice(1)}\n`;
}

/** `10:42:07 INFO  GET /api/orgs 200 3.2 ms usr_…` for requests; `10:42:07 WARN  msg key=value` otherwise. */
function textLine(level: Level, msg: string, fields: Fields = {}): string {
  const time = new Date().toTimeString().slice(0, 8);
  const head = `${time} ${level.toUpperCase().padEnd(5)} `;
  if (msg === "request") {
    const { method, route, path, app, status, ms, userId, requestId } = fields as Record<string, unknown>;
    const where = app ? `app ${app}` : (route ?? path);
    return `${head}${method} ${where} ${status} ${ms} ms${userId ? ` ${userId}` : ""}${requestId ? ` [${requestId}]` : ""}\n`;
  }
  const kv = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === "string" && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  return `${head}${msg}${kv.length ? ` ${kv.join(" ")}` : ""}\n`;
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
