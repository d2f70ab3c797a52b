// The terminal attach protocol ("term.v1", SPEC §5) — the one codec used by the server, the CLI
// and the browser page (which gets this file transpiled, so it must import nothing).
// Binary frames carry terminal bytes both ways; text frames carry JSON control messages.

export type ServerMessage =
  | { type: "hello"; offset: number; cols: number; rows: number; writable: boolean }
  /** The bytes that follow start at `offset`: the client missed some and must clear its screen. */
  | { type: "reset"; offset: number }
  | { type: "resized"; cols: number; rows: number }
  | { type: "exit"; code: number | null; signal: string | null };

export type ClientMessage = { type: "resize"; cols: number; rows: number } | { type: "ack"; offset: number };

export const CLOSE = {
  /** The program exited and every byte was delivered. */
  EXITED: 1000,
  /** The server is shutting down: reconnect. */
  GOING_AWAY: 1001,
  /** The client broke the protocol. */
  PROTOCOL: 4400,
  /** The host's relay connection ended (it stopped, or lost the network): attach again later. */
  HOST_GONE: 4503,
} as const;

export const LIMITS = { maxCols: 1000, maxRows: 500 } as const;
/** Clients acknowledge at least this often (bytes processed since the last ack). */
export const ACK_EVERY = 64 * 1024;

export const encode = (m: ServerMessage | ClientMessage): string => JSON.stringify(m);

const isInt = (v: unknown, min: number, max: number): v is number => typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;

export function validSize(cols: unknown, rows: unknown): boolean {
  return isInt(cols, 1, LIMITS.maxCols) && isInt(rows, 1, LIMITS.maxRows);
}

/** Longer than any control message; anything longer is not one, and is not parsed. */
const MAX_CONTROL = 512;

function object(text: string): Record<string, unknown> | null {
  if (text.length > MAX_CONTROL) return null;
  try {
    const m: unknown = JSON.parse(text);
    return m !== null && typeof m === "object" && !Array.isArray(m) ? (m as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

const isOffset = (v: unknown): v is number => isInt(v, 0, Number.MAX_SAFE_INTEGER);

/** A client's control message, or null when it is not one we accept. */
export function parseClient(text: string): ClientMessage | null {
  const m = object(text);
  if (m?.type === "resize" && validSize(m.cols, m.rows)) return { type: "resize", cols: m.cols as number, rows: m.rows as number };
  if (m?.type === "ack" && isOffset(m.offset)) return { type: "ack", offset: m.offset as number };
  return null;
}

/** A server's control message with exactly its fields, or null when it is not one we know. */
export function parseServer(text: string): ServerMessage | null {
  const m = object(text);
  if (m?.type === "hello" && isOffset(m.offset) && validSize(m.cols, m.rows) && typeof m.writable === "boolean") {
    return { type: "hello", offset: m.offset, cols: m.cols as number, rows: m.rows as number, writable: m.writable };
  }
  if (m?.type === "reset" && isOffset(m.offset)) return { type: "reset", offset: m.offset };
  if (m?.type === "resized" && validSize(m.cols, m.rows)) return { type: "resized", cols: m.cols as number, rows: m.rows as number };
  if (m?.type === "exit" && (m.code === null || isInt(m.code, -(2 ** 31), 2 ** 31)) && (m.signal === null || (typeof m.signal === "string" && /^[A-Z0-9]{1,16}$/.test(m.signal)))) {
    return { type: "exit", code: m.code as number | null, signal: m.signal as string | null };
  }
  return null;
}
