// Failed-credential rate limiting per client address (SPEC §2.4 rules 7 and 12): only failures
// count, so a valid credential is never throttled by its own use.
export const FAILURE_LIMIT = 20;
export const WINDOW_MS = 60_000;
const MAX_TRACKED = 50_000;

export class FailureLimiter {
  private windows = new Map<string, { start: number; failures: number }>();

  constructor(
    private limit = FAILURE_LIMIT,
    private windowMs = WINDOW_MS,
  ) {}

  /** Seconds to wait when `ip` has used up its failures in the current window, else 0. */
  retryAfter(ip: string, now = Date.now()): number {
    const w = this.windows.get(ip);
    if (!w || now - w.start >= this.windowMs || w.failures < this.limit) return 0;
    return Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000));
  }

  fail(ip: string, now = Date.now()): void {
    const w = this.windows.get(ip);
    if (w && now - w.start < this.windowMs) {
      w.failures++;
      return;
    }
    // Bounded memory under a spray of addresses: drop everything old rather than grow.
    if (this.windows.size >= MAX_TRACKED) this.prune(now);
    this.windows.set(ip, { start: now, failures: 1 });
  }

  prune(now = Date.now()): void {
    for (const [ip, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(ip);
    if (this.windows.size >= MAX_TRACKED) this.windows.clear();
  }
}
