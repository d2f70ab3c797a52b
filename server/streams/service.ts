// The streams service: one per server, shared by the HTTP routes, the CLI-facing API and the
// sweeper. It owns the storage, the group-commit writer, the reader and the live notifier, and
// answers "which stream is this, for this org" the same way for every caller.
import { HttpError } from "../http/errors";
import { dbFault, faultLogGate } from "../db/faults";
import type { Logger } from "../log";
import { Live } from "./live";
import { Reader } from "./reads";
import { Clock, state } from "./state";
import type { Chunk, StreamRow, StreamStorage } from "./storage";
import { Durable, Writer, type Appended, type Op, type Outcome } from "./writes";

export const READ_BYTES = 1024 * 1024;
const SWEEP_MS = 1000;

export class Streams {
  readonly clock = new Clock();
  readonly live = new Live();
  private durable = new Durable();
  readonly reader: Reader;
  private writer: Writer;
  private timer: ReturnType<typeof setInterval> | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private afterCommit: ((appended: Appended[]) => void)[] = [];

  constructor(
    readonly storage: StreamStorage,
    private log: Logger,
    readonly longPollMs: number,
    /** How long one SSE response lasts before the client is asked to reconnect from its offset. */
    readonly sseConnectionMs: number,
  ) {
    this.reader = new Reader(storage);
    this.writer = new Writer(storage, this.clock, this.reader, this.durable, (changed, appended) => {
      for (const [id, news] of changed) this.live.publish(id, news);
      if (appended.length) for (const f of this.afterCommit) f(appended);
    });
  }

  async start(): Promise<void> {
    this.unlisten = await this.storage.listen(
      (id) => this.live.publish(id, null),
      () => {
        this.log.info("stream notices from other replicas are back (the database connection was restored); live readers look again");
        this.live.wakeAll();
      },
    );
    // While the database is down this fails every second: one line every few seconds says so.
    const gate = faultLogGate(30_000);
    this.timer = setInterval(
      () =>
        void this.sweep().catch((e) => {
          const fault = dbFault(e);
          if (!fault || gate(fault).log) this.log.warn("stream sweep failed", { error: String(e) });
        }),
      SWEEP_MS,
    );
    this.timer.unref?.();
  }

  /** Set once the server is shutting down: live readers finish their responses. */
  stopping = false;

  closing(): void {
    this.stopping = true;
    this.live.wakeAll();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.closing();
    await this.writer.idle();
    await this.flushTouches().catch(() => {});
    await this.unlisten?.();
  }

  /** Called after each commit with the streams that got new data (subscriptions hook in here). */
  onAppended(f: (appended: Appended[]) => void): void {
    this.afterCommit.push(f);
  }

  submit(op: Op): Promise<Outcome> {
    return this.writer.submit(op);
  }

  /** The stream as this org sees it: 404 when there is none (or it expired), 410 when deleted with forks. */
  async get(orgId: string, path: string): Promise<StreamRow> {
    const row = await this.storage.find(orgId, path);
    return this.check(row);
  }

  async byId(id: string): Promise<StreamRow> {
    return this.check(await this.storage.byId(id));
  }

  private check(row: StreamRow | null): StreamRow {
    const s = state(row, this.clock);
    if (s === "missing") throw new HttpError(404, "stream_not_found", "no such stream");
    if (s === "gone") throw new HttpError(410, "stream_gone", "this stream was deleted; its forks still read its data");
    return this.durable.cap(row!);
  }

  /**
   * One page of an org's streams, as a reader would find them (expired ones left out, tails as
   * far as durable), after the path `after`; `last` is where the next page starts, or null at the end.
   */
  async list(orgId: string, prefix: string, after: string, limit: number): Promise<{ rows: StreamRow[]; last: string | null }> {
    const rows = await this.storage.list(orgId, prefix, after, limit + 1);
    const page = rows.slice(0, limit);
    return {
      rows: page.filter((r) => state(r, this.clock) === "ok").map((r) => this.durable.cap(r)),
      last: rows.length > limit ? page.at(-1)!.path : null,
    };
  }

  read(row: StreamRow, after: number, maxBytes = READ_BYTES): Promise<Chunk[]> {
    return this.reader.read(row, after, maxBytes);
  }

  private async flushTouches(): Promise<void> {
    const touches = this.clock.takeTouches();
    if (!touches.size) return;
    // One time for the lot is enough: each was touched within the last second.
    let oldest = Infinity;
    for (const t of touches.values()) oldest = Math.min(oldest, t);
    await this.storage.touch([...touches.keys()], new Date(oldest));
  }

  private async sweep(): Promise<void> {
    await this.flushTouches();
    for (const row of await this.storage.expiring(new Date(this.clock.now()), 100)) {
      if (row.deleted || !this.clock.expired(row)) continue;
      await this.submit({ kind: "expire", id: row.id });
    }
  }
}
