// Who is waiting for which stream (long-poll and SSE readers), and waking them. A wake from this
// replica carries the chunks just committed and whether the stream is now closed, so a reader
// at the old tail (nearly all of them) answers from memory instead of a query per reader. A
// wake without news (another replica's change, a delete, shutdown) means: look again.
import type { Chunk } from "./storage";

export interface News {
  chunks: Chunk[];
  tail: number;
  closed: boolean;
}

type Listener = (news: News | null) => void;

export class Live {
  private listeners = new Map<string, Set<Listener>>();

  /** Calls back on every change to the stream until the returned function is called. */
  subscribe(streamId: string, listener: Listener): () => void {
    let set = this.listeners.get(streamId);
    if (!set) this.listeners.set(streamId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(streamId) === set) this.listeners.delete(streamId);
    };
  }

  /** The next change, or "timeout"; null when it carries no news or the signal aborts. */
  wait(streamId: string, timeoutMs: number, signal?: AbortSignal): Promise<News | null | "timeout"> {
    return new Promise((resolve) => {
      const done = (result: News | null | "timeout") => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        unsubscribe();
        resolve(result);
      };
      const onAbort = () => done(null);
      const unsubscribe = this.subscribe(streamId, done);
      const timer = setTimeout(() => done("timeout"), timeoutMs);
      signal?.addEventListener("abort", onAbort);
    });
  }

  publish(streamId: string, news: News | null): void {
    const set = this.listeners.get(streamId);
    if (!set) return;
    for (const listener of [...set]) listener(news);
  }

  /** How many are waiting (readers, and subscriptions' own listeners), for the metrics. */
  get waiting(): number {
    let n = 0;
    for (const set of this.listeners.values()) n += set.size;
    return n;
  }

  /** Ends every wait (server shutdown): readers answer with what they have. */
  wakeAll(): void {
    for (const id of [...this.listeners.keys()]) this.publish(id, null);
  }
}
