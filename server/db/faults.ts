// Database failures that are not bugs: the database is down or restarting, the connection to it
// broke, the disk under it is full. Requests that hit one get a clean 503 (or 507 for a full
// disk) with Retry-After, never a 500, and the server carries on: the pool reconnects by itself
// once Postgres is back, and SQLite writes succeed again once space is freed. Everything else a
// query throws is still a bug (errors.ts answers it 500).
//
// Errors arrive wrapped (drizzle's DrizzleQueryError keeps the driver's error as `cause`), so the
// chain of causes is searched.

export interface DbFault {
  status: 503 | 507;
  code: "database_unavailable" | "database_busy" | "insufficient_storage";
  /** For the client. */
  message: string;
  /** Seconds, for Retry-After. */
  retryAfter: number;
  /** Whether nothing can succeed until the fault is gone (connection lost, disk full), as opposed to one op's bad luck (a deadlock). */
  outage: boolean;
  /** For the log line. */
  reason: string;
}

/** Bun.SQL's own codes for a connection that could not be made or was lost. */
const PG_CONNECTION = new Set([
  "ERR_POSTGRES_CONNECTION_CLOSED",
  "ERR_POSTGRES_CONNECTION_REFUSED",
  "ERR_POSTGRES_CONNECTION_FAILED",
  "ERR_POSTGRES_CONNECTION_TIMEOUT",
  "ERR_POSTGRES_IDLE_TIMEOUT",
  "ERR_POSTGRES_LIFETIME_TIMEOUT",
  "ERR_POSTGRES_TLS_UPGRADE_FAILED",
]);

const unavailable = (reason: string): DbFault => ({
  status: 503,
  code: "database_unavailable",
  message: "the database is unavailable; nothing was changed by this request unless a later read shows it. Retry shortly",
  retryAfter: 2,
  outage: true,
  reason,
});

const busy = (reason: string): DbFault => ({
  status: 503,
  code: "database_busy",
  message: "the database could not finish this request in time; retry shortly",
  retryAfter: 1,
  outage: false,
  reason,
});

const full = (reason: string): DbFault => ({
  status: 507,
  code: "insufficient_storage",
  message: "the server's disk is full: this write was not stored. Reads still work; writes resume once space is freed",
  retryAfter: 30,
  outage: true,
  reason,
});

export function dbFault(error: unknown): DbFault | null {
  for (let e = error, depth = 0; e && typeof e === "object" && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const f = classify(e as { code?: unknown; errno?: unknown; message?: unknown; name?: unknown });
    if (f) return f;
  }
  return null;
}

function classify(e: { code?: unknown; errno?: unknown; message?: unknown; name?: unknown }): DbFault | null {
  const code = typeof e.code === "string" ? e.code : "";
  // Postgres: Bun's code for the connection, or the server's SQLSTATE in errno.
  if (PG_CONNECTION.has(code)) return unavailable(`${code}: ${String(e.message ?? "")}`);
  if (code.startsWith("ERR_POSTGRES_") && typeof e.errno === "string") {
    const state = e.errno;
    const why = `SQLSTATE ${state}: ${String(e.message ?? "")}`;
    // 08: connection exception; 57P01-03: shutting down, crashed, starting up; 53300: too many connections.
    if (state.startsWith("08") || state === "57P01" || state === "57P02" || state === "57P03" || state === "53300") return unavailable(why);
    if (state === "53100") return full(why);
    // 53200 out of memory, 57014 statement timeout, 55P03 lock timeout, 40001/40P01 serialization failure and deadlock.
    if (state === "53200" || state === "57014" || state === "55P03" || state === "40001" || state === "40P01") return busy(why);
    return null;
  }
  if (code === "ERR_POSTGRES_QUERY_CANCELLED") return busy(code);
  // SQLite (bun:sqlite): the extended result code's name; the primary code is errno & 0xff.
  if (code.startsWith("SQLITE_")) {
    const primary = typeof e.errno === "number" ? e.errno & 0xff : -1;
    if (code.startsWith("SQLITE_FULL") || primary === 13) return full(code);
    if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED") || primary === 5 || primary === 6) return busy(code);
    if (code.startsWith("SQLITE_IOERR") || primary === 10) return unavailable(code);
    return null;
  }
  // The file system itself (the WAL sync, a data file).
  if (code === "ENOSPC" || code === "EDQUOT") return full(code);
  if (code === "EIO") return unavailable(code);
  return null;
}

/**
 * Whether to log this fault now: the first time, then at most once per interval per kind, with how
 * many were not logged in between. An outage must be loud once, not one line per request.
 */
export function faultLogGate(intervalMs = 5000) {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (fault: DbFault): { log: boolean; suppressed: number } => {
    const now = Date.now();
    const seen = last.get(fault.code);
    if (seen && now - seen.at < intervalMs) {
      seen.suppressed++;
      return { log: false, suppressed: 0 };
    }
    last.set(fault.code, { at: now, suppressed: 0 });
    return { log: true, suppressed: seen?.suppressed ?? 0 };
  };
}

/** The log line for a fault: says what is wrong in words an operator acts on. */
export function faultLogMessage(fault: DbFault): string {
  if (fault.code === "insufficient_storage") return "the disk is full: database writes fail (507) until space is freed";
  if (fault.code === "database_unavailable") return "the database is unavailable: requests that need it get 503 until it is back";
  return "the database is busy: a request got 503";
}
