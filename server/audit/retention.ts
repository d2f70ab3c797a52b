// Retention (--audit-retention, default 90d): events older than that are deleted, a batch at a
// time so that a large first sweep never holds the database's write lock for long. The only
// delete of the audit log there is.
import type { Logger } from "../log";
import type { AuditStore } from "./store";

const BATCH = 5_000;
/** Often enough that nothing outlives its retention by more than a quarter of it (at most an hour). */
const sweepEvery = (retentionMs: number) => Math.min(3_600_000, Math.max(500, Math.floor(retentionMs / 4)));

/** Starts sweeping; returns the stop. */
export function startRetention(store: AuditStore, retentionMs: number, log: Logger): () => void {
  let running = false;
  const sweep = async () => {
    if (running) return;
    running = true;
    try {
      const cutoff = new Date(Date.now() - retentionMs);
      let deleted = 0;
      for (let n = BATCH; n === BATCH; deleted += n) n = await store.sweep(cutoff, BATCH);
      if (deleted > 0) log.info("audit events past retention deleted", { deleted, before: cutoff.toISOString() });
    } catch (e) {
      log.error("audit retention sweep failed", { error: String(e) });
    } finally {
      running = false;
    }
  };
  const timer = setInterval(sweep, sweepEvery(retentionMs));
  timer.unref();
  return () => clearInterval(timer);
}
