// At most one event per key per interval, in bounded memory: events a client can cause at will
// (a revoked key tried in a loop, failures past the rate limit) must not flood the log.
export class Throttle {
  private last = new Map<string, number>();

  constructor(
    private everyMs: number,
    private maxKeys = 10_000,
  ) {}

  allow(key: string, now = Date.now()): boolean {
    const at = this.last.get(key);
    if (at !== undefined && now - at < this.everyMs) return false;
    if (this.last.size >= this.maxKeys) {
      for (const [k, t] of this.last) if (now - t >= this.everyMs) this.last.delete(k);
      // Still full: a spray of distinct keys. Say nothing more until the interval passes.
      if (this.last.size >= this.maxKeys) return false;
    }
    this.last.set(key, now);
    return true;
  }
}
