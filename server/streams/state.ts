// When a stream is there: expiry (Stream-TTL slides with every read and write, HEAD excepted;
// Stream-Expires-At is fixed) and deletion. Reads do not write the database to slide a TTL: they
// note the time here and the sweeper writes it at most once a second.
import type { StreamRow } from "./storage";

export class Clock {
  private accessed = new Map<string, number>();

  now(): number {
    return Date.now();
  }

  touch(row: StreamRow): void {
    if (row.ttlSeconds !== null) this.accessed.set(row.id, this.now());
  }

  lastAccess(row: StreamRow): number {
    return Math.max(row.accessedAt.getTime(), this.accessed.get(row.id) ?? 0);
  }

  expired(row: StreamRow, now = this.now()): boolean {
    if (row.expiresAt && now >= row.expiresAt.getTime()) return true;
    return row.ttlSeconds !== null && now >= this.lastAccess(row) + row.ttlSeconds * 1000;
  }

  /** The touches noted since the last call, for the sweeper to write. */
  takeTouches(): Map<string, number> {
    const t = this.accessed;
    this.accessed = new Map();
    return t;
  }
}

/** missing: 404 (never created, deleted, or expired); gone: 410 (deleted, but forks read through it). */
export function state(row: StreamRow | null, clock: Clock): "ok" | "gone" | "missing" {
  if (!row) return "missing";
  if (row.deleted) return "gone";
  if (clock.expired(row)) return row.forks > 0 ? "gone" : "missing";
  return "ok";
}
