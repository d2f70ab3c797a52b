// The server log: JSON lines to stderr or --log-file. Lines are buffered and written in batches
// so that logging every request stays off the hot path; close() flushes what is left.
import { openSync, writeSync } from "node:fs";

export type Fields = Record<string, unknown>;

export interface Logger {
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  flush(): void;
  close(): void;
}

const FLUSH_MS = 25;
const FLUSH_BYTES = 64 * 1024;

export function createLogger(file?: string): Logger {
  const fd = file ? openSync(file, "a", 0o600) : 2;
  let pending: string[] = [];
  let size = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const flush = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0) return;
    const text = pending.join("");
    pending = [];
    size = 0;
    writeSync(fd, text);
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
