// The Audit service: record(event) returns at once; events wait in memory and are written in
// batches, one transaction each (group commit), so a request never waits on the audit log.
// flush() writes what is waiting (the server's stop path calls it, so a clean shutdown loses
// nothing); a failed write keeps the batch and tries again. Each event is also one log line.
import type { Logger } from "../log";
import type { AuditEvent } from "./event";
import { shown, toRow } from "./row";
import { Refusals } from "./refusals";
import { Sampled } from "./sampled";
import type { AuditRow, AuditStore } from "./store";

/** How long an event waits for others to share its commit. */
const BATCH_MS = 50;
const MAX_BATCH = 500;
/** While the database cannot be written: how long before trying again, and how much is kept. */
const RETRY_MS = 1_000;
const MAX_WAITING = 100_000;
const ERROR_EVERY_MS = 30_000;

export class Audit {
  private waiting: AuditRow[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<boolean> | undefined;
  private lastError = 0;
  private dropped = 0;
  private closed = false;

  /** For the credential resolver's failure path (throttled). */
  readonly refusals: Refusals;
  /** For acts repeated on every request: once per key every ten minutes. */
  readonly sampled = new Sampled(this);

  constructor(
    readonly store: AuditStore,
    private log: Logger,
  ) {
    this.refusals = new Refusals(this, (e) => log.error("audit of a refused credential failed", { error: String(e) }));
  }

  record(event: AuditEvent): void {
    if (event.client?.forwarded) return;
    const row = toRow(event);
    const { id, time: _, ...fields } = shown(row);
    this.log.info("audit", { event: id, ...fields });
    // After stop() the database is closed: a socket closing late is still in the log.
    if (this.closed) return;
    this.waiting.push(row);
    if (this.waiting.length > MAX_WAITING) {
      this.waiting.shift();
      this.dropped++;
    }
    this.schedule(BATCH_MS);
  }

  /** Resolves once every event recorded before the call is written (or a write failed). */
  async flush(): Promise<void> {
    while (this.writing || this.waiting.length > 0) {
      if (!(await (this.writing ?? this.write()))) return;
    }
  }

  /** The server's stop path, before the database closes: write everything, then take no more. */
  async stop(): Promise<void> {
    await this.flush();
    this.closed = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.write();
    }, ms);
  }

  private write(): Promise<boolean> {
    if (this.writing) return this.writing;
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.waiting.splice(0, MAX_BATCH);
    if (batch.length === 0) return Promise.resolve(true);
    return (this.writing = this.store
      .append(batch)
      .then(
        () => true,
        (e) => {
          this.waiting.unshift(...batch);
          const now = Date.now();
          if (now - this.lastError >= ERROR_EVERY_MS) {
            this.lastError = now;
            this.log.error("audit write failed; events are kept and written when the database answers", { error: String(e), waiting: this.waiting.length, dropped: this.dropped });
          }
          return false;
        },
      )
      .then((ok) => {
        this.writing = undefined;
        if (this.waiting.length > 0) this.schedule(ok ? 0 : RETRY_MS);
        return ok;
      }));
  }
}
