// Every change to a stream — create, append, close, delete — is an op queued here and applied
// in a batch: all ops that arrive while the previous batch commits share the next transaction,
// so N concurrent appends cost one commit (one fsync) instead of N (group commit, SPEC §0). An
// op's promise settles only after its batch committed: a 2xx is on disk. Each op's rules are
// checked against the rows as locked in this transaction, in arrival order, so appends to one
// stream are totally ordered, across replicas too. A rule failure answers that op alone.
import { streamBatch } from "../metrics";
import { randomBytes } from "node:crypto";
import { HttpError } from "../http/errors";
import { dbFault } from "../db/faults";
import { DEFAULT_CONTENT_TYPE, isJson, jsonArray, jsonChunk, mediaType } from "./content";
import * as offsets from "./offsets";
import { state, type Clock } from "./state";
import type { Reader } from "./reads";
import type { News } from "./live";
import type { Chunk, ProducerState, StreamRow, StreamStorage, StreamTx } from "./storage";

export interface Outcome {
  status: number;
  headers: Record<string, string>;
  row?: StreamRow;
}

export interface Producer {
  id: string;
  epoch: number;
  seq: number;
}

export type Op =
  | {
      kind: "create";
      orgId: string;
      path: string;
      contentType: string | null;
      ttlSeconds: number | null;
      expiresAt: Date | null;
      closed: boolean;
      body: Uint8Array;
      fork: { from: string; offset: number | null; subOffset: number | null } | null;
    }
  | { kind: "append"; orgId: string; path: string; contentType: string | null; body: Uint8Array; seq: string | null; close: boolean; producer: Producer | null }
  | { kind: "delete"; orgId: string; path: string }
  /** The sweeper's: remove a stream whose time is up, if it still is. */
  | { kind: "expire"; id: string };

export interface Appended {
  orgId: string;
  path: string;
}

interface Pending {
  op: Op;
  resolve(o: Outcome): void;
  reject(e: unknown): void;
}

const MAX_BATCH = 512;

/** What one transaction has read and changed; written back once at its end. */
class Batch {
  private rows = new Map<string, StreamRow | null>();
  private byId = new Map<string, StreamRow>();
  private dirty = new Set<StreamRow>();
  /** Written together at finish(): one statement for the batch on Postgres. */
  private chunks: (Chunk & { streamId: string })[] = [];
  private producers = new Map<string, ProducerState | null | Promise<ProducerState | null>>();
  private dirtyProducers = new Map<string, { streamId: string; producerId: string; p: ProducerState }>();
  /** Per stream changed: what its live readers are told after the commit (null: look again). */
  readonly published = new Map<string, News | null>();
  /** Streams that got new data (not a close, not an empty create): what subscriptions wake for. */
  readonly appended: Appended[] = [];

  constructor(
    readonly tx: StreamTx,
    readonly now: Date,
    readonly reader: Reader,
  ) {}

  /** Each locked stream's tail and closed flag as this batch found them. */
  readonly before = new Map<string, Visible>();

  async row(orgId: string, path: string): Promise<StreamRow | null> {
    const key = `${orgId}\0${path}`;
    if (!this.rows.has(key)) {
      const row = await this.tx.lock(orgId, path);
      this.rows.set(key, row);
      if (row) this.known(row);
    }
    return this.rows.get(key)!;
  }

  private known(row: StreamRow): void {
    this.byId.set(row.id, row);
    if (!this.before.has(row.id)) this.before.set(row.id, { tail: row.tail, closed: row.closed });
  }

  /**
   * Locks every stream the ops name and loads their producers' state, all at once: pipelined on
   * Postgres (one round trip, not one per stream), and in sorted order, so two replicas locking
   * the same streams cannot deadlock.
   */
  async prefetch(ops: Op[]): Promise<void> {
    const keys = new Map<string, [string, string]>();
    for (const op of ops) {
      if (op.kind === "expire") continue;
      keys.set(`${op.orgId}\0${op.path}`, [op.orgId, op.path]);
      if (op.kind === "create" && op.fork) keys.set(`${op.orgId}\0${op.fork.from}`, [op.orgId, op.fork.from]);
    }
    const sorted = [...keys.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    await settleAll(sorted.map(([, [orgId, path]]) => this.row(orgId, path)));
    const producers: Promise<unknown>[] = [];
    for (const op of ops) {
      if (op.kind !== "append" || !op.producer) continue;
      const row = this.rows.get(`${op.orgId}\0${op.path}`);
      if (row) producers.push(this.producer(row.id, op.producer.id));
    }
    await settleAll(producers);
  }

  async rowById(id: string): Promise<StreamRow | null> {
    const known = this.byId.get(id);
    if (known) return known;
    const row = await this.tx.lockId(id);
    if (row) {
      this.known(row);
      this.rows.set(`${row.orgId}\0${row.path}`, row);
    }
    return row;
  }

  async insert(row: StreamRow): Promise<boolean> {
    if (!(await this.tx.insert(row))) return false;
    this.rows.set(`${row.orgId}\0${row.path}`, row);
    this.byId.set(row.id, row);
    this.published.set(row.id, null);
    return true;
  }

  changed(row: StreamRow): void {
    this.dirty.add(row);
    if (!this.published.has(row.id)) this.published.set(row.id, { chunks: [], tail: row.tail, closed: row.closed });
  }

  async remove(row: StreamRow): Promise<void> {
    await this.tx.remove(row.id);
    this.dirty.delete(row);
    this.rows.set(`${row.orgId}\0${row.path}`, null);
    this.byId.delete(row.id);
    this.published.set(row.id, null);
  }

  append(row: StreamRow, data: Uint8Array): void {
    const chunk = { start: row.tail, end: row.tail + data.byteLength, data };
    this.chunks.push({ ...chunk, streamId: row.id });
    row.tail = chunk.end;
    this.changed(row);
    this.published.get(row.id)?.chunks.push(chunk);
  }

  async producer(streamId: string, producerId: string): Promise<ProducerState | null> {
    const key = `${streamId}\0${producerId}`;
    if (!this.producers.has(key)) this.producers.set(key, this.tx.producer(streamId, producerId));
    return this.producers.get(key)!;
  }

  setProducer(streamId: string, producerId: string, p: ProducerState): void {
    const key = `${streamId}\0${producerId}`;
    this.producers.set(key, p);
    this.dirtyProducers.set(key, { streamId, producerId, p });
  }

  /** Streams whose tail or closed flag this batch changed. */
  moved(): Moved[] {
    const out: Moved[] = [];
    for (const row of this.dirty) {
      const before = this.before.get(row.id) ?? { tail: 0, closed: false };
      if (row.tail !== before.tail || row.closed !== before.closed) out.push({ id: row.id, before, after: { tail: row.tail, closed: row.closed } });
    }
    return out;
  }

  /**
   * Writes back what the batch changed. The statements are independent, so they go out together:
   * on Postgres they are pipelined on the transaction's connection, one round trip for all.
   */
  async finish(): Promise<void> {
    const writes: Promise<void>[] = [];
    // A stream removed later in the batch takes its chunks with it.
    const chunks = this.chunks.filter((c) => this.byId.has(c.streamId));
    if (chunks.length) writes.push(this.tx.addChunks(chunks));
    for (const row of this.dirty) {
      writes.push(this.tx.update(row));
      const news = this.published.get(row.id);
      if (news) Object.assign(news, { tail: row.tail, closed: row.closed });
      if (row.deleted) this.published.set(row.id, null);
    }
    for (const { streamId, producerId, p } of this.dirtyProducers.values()) writes.push(this.tx.putProducer(streamId, producerId, p, this.now));
    for (const id of this.published.keys()) writes.push(this.tx.announce(id));
    await settleAll(writes);
  }
}

/**
 * Promise.all that returns (or throws its first error) only once every statement has settled. On
 * a failure Promise.all would return at once, the transaction would roll back, and a statement
 * still in flight could then run outside it and stay (oven-sh/bun#43248): half a batch stored.
 */
async function settleAll(statements: Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(statements)).find((r) => r.status === "rejected");
  if (failed) throw failed.reason;
}

/**
 * How far readers may read each stream. A batch is committed before it is on disk (SQLite syncs
 * the WAL after COMMIT, see server/db/sqlite.ts), so until its sync is done, readers are held at
 * the tail from before the batch: nobody reads bytes that a power cut could still take back.
 */
export class Durable {
  private pending = new Map<string, Visible & { batches: number }>();

  cap(row: StreamRow): StreamRow {
    const p = this.pending.get(row.id);
    return p ? { ...row, tail: Math.min(row.tail, p.tail), closed: row.closed && p.closed } : row;
  }

  begin(moved: Moved[]): void {
    for (const m of moved) {
      const p = this.pending.get(m.id);
      if (p) p.batches += 1;
      else this.pending.set(m.id, { ...m.before, batches: 1 });
    }
  }

  /** Syncs finish in commit order, so the batch's own state is now safe to show. */
  end(moved: Moved[], synced: boolean): void {
    for (const m of moved) {
      const p = this.pending.get(m.id);
      if (!p) continue;
      if (synced) Object.assign(p, m.after);
      if (--p.batches === 0) this.pending.delete(m.id);
    }
  }
}

interface Visible {
  tail: number;
  closed: boolean;
}

interface Moved {
  id: string;
  before: Visible;
  after: Visible;
}

export class Writer {
  private queue: Pending[] = [];
  private running = false;

  constructor(
    private storage: StreamStorage,
    private clock: Clock,
    private reader: Reader,
    private durable: Durable,
    private onCommit: (published: Map<string, News | null>, appended: Appended[]) => void,
  ) {}

  submit(op: Op): Promise<Outcome> {
    return new Promise((resolve, reject) => {
      this.queue.push({ op, resolve, reject });
      // setImmediate, not a microtask: every request parsed in this turn of the event loop joins.
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  /** Resolves once everything queued so far has committed (used at shutdown). */
  async idle(): Promise<void> {
    while (this.running) await new Promise((r) => setTimeout(r, 5));
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, MAX_BATCH);
        try {
          await this.run(batch);
        } catch (e) {
          // The database is gone or the disk is full: every op would fail the same way, one
          // connection attempt (or timeout) at a time, and a batch whose COMMIT was cut off may
          // have landed, so running its ops again could store them twice. All of them get the
          // fault now (503/507 with Retry-After); the writer is free for the next batch at once.
          if (dbFault(e)?.outage) {
            for (const p of batch) p.reject(e);
            continue;
          }
          // Something else below the rules failed (a deadlock between replicas): nothing of that
          // batch committed. Retry each op alone, so one op's trouble is its own.
          for (const p of batch) await this.run([p]).catch((e) => p.reject(e));
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async run(pending: Pending[]): Promise<void> {
    const started = performance.now();
    const outcomes: (Outcome | HttpError)[] = [];
    let moved: Moved[] | null = null;
    let settled = false;
    let synced = false;
    let done: Batch;
    try {
      done = await this.storage.transaction(async (tx) => {
        const batch = new Batch(tx, new Date(this.clock.now()), this.reader);
        await batch.prefetch(pending.map((p) => p.op));
        for (const p of pending) {
          try {
            outcomes.push(await apply(batch, p.op, this.clock));
          } catch (e) {
            if (!(e instanceof HttpError)) throw e;
            outcomes.push(e);
          }
        }
        await batch.finish();
        // A lost connection can settle the transaction while this callback still runs (Bun.SQL
        // rejects begin() at once). Holding readers back now would never be undone: this
        // process's readers would stop short of other replicas' appends for good.
        if (settled) throw new Error("the transaction ended before its batch was written");
        moved = batch.moved();
        this.durable.begin(moved);
        return batch;
      });
      synced = true;
    } finally {
      settled = true;
      if (moved) this.durable.end(moved, synced);
    }
    let appended = 0;
    let bytes = 0;
    pending.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o instanceof HttpError) return p.reject(o);
      if (p.op.kind === "append") (appended++, (bytes += p.op.body.length));
      p.resolve(o);
    });
    streamBatch(pending.length, appended, bytes, (performance.now() - started) / 1000);
    this.onCommit(done.published, done.appended);
  }
}

function apply(batch: Batch, op: Op, clock: Clock): Promise<Outcome> {
  switch (op.kind) {
    case "create":
      return create(batch, op, clock);
    case "append":
      return append(batch, op, clock);
    case "delete":
      return remove(batch, op, clock);
    case "expire":
      return expire(batch, op, clock);
  }
}

const notFound = () => new HttpError(404, "stream_not_found", "no such stream");
const gone = () => new HttpError(410, "stream_gone", "this stream was deleted; its forks still read its data");

/** The row as a request may see it: missing and expired are 404, deleted with live forks is 410. */
async function usable(batch: Batch, orgId: string, path: string, clock: Clock): Promise<StreamRow> {
  const row = await batch.row(orgId, path);
  const s = state(row, clock);
  if (s === "missing") throw notFound();
  if (s === "gone") throw gone();
  return row!;
}

async function create(batch: Batch, op: Extract<Op, { kind: "create" }>, clock: Clock): Promise<Outcome> {
  const existing = await batch.row(op.orgId, op.path);
  const s = state(existing, clock);
  if (s === "gone") throw new HttpError(409, "stream_gone", "a deleted stream with live forks still holds this path; delete its forks first");
  if (s === "ok") return confirm(existing!, op);
  if (existing) await drop(batch, existing);

  let source: StreamRow | null = null;
  let tail = 0;
  let contentType = op.contentType ?? DEFAULT_CONTENT_TYPE;
  let ttlSeconds = op.ttlSeconds;
  let expiresAt = op.expiresAt;
  let prefix: Uint8Array | null = null;
  if (op.fork) {
    source = await batch.row(op.orgId, op.fork.from);
    const ss = state(source, clock);
    if (ss === "missing") throw new HttpError(404, "source_not_found", "the stream named in Stream-Forked-From does not exist");
    if (ss === "gone") throw new HttpError(409, "source_gone", "the stream named in Stream-Forked-From was deleted");
    if (op.contentType !== null && mediaType(op.contentType) !== mediaType(source!.contentType)) {
      throw new HttpError(409, "content_type_mismatch", `a fork has its source's content type, ${source!.contentType}`);
    }
    contentType = source!.contentType;
    tail = op.fork.offset ?? source!.tail;
    if (tail > source!.tail) throw new HttpError(400, "invalid_fork_offset", "Stream-Fork-Offset is beyond the end of the source stream");
    if (op.fork.subOffset) prefix = await subOffsetPrefix(batch, source!, tail, op.fork.subOffset);
    // A fork lives on its own clock: its own TTL or expiry, else a copy of its source's.
    if (ttlSeconds === null && expiresAt === null) {
      ttlSeconds = source!.ttlSeconds;
      expiresAt = source!.expiresAt;
    }
  }

  const now = batch.now;
  const row: StreamRow = {
    id: `str_${randomBytes(12).toString("base64url")}`,
    orgId: op.orgId,
    path: op.path,
    contentType,
    ttlSeconds,
    expiresAt,
    accessedAt: now,
    createdAt: now,
    tail,
    closed: false,
    closedBy: null,
    lastSeq: null,
    forkOf: source?.id ?? null,
    forkOffset: source ? tail : null,
    forkSubOffset: op.fork?.subOffset ?? null,
    forks: 0,
    deleted: false,
  };
  const data = op.body.byteLength ? (isJson(contentType) ? jsonChunk(op.body, true) : op.body) : null;
  if (!(await batch.insert(row))) {
    // Another replica created it between our lock and insert: now it is an existing stream.
    const theirs = await batch.row(op.orgId, op.path);
    if (state(theirs, clock) !== "ok") throw new HttpError(409, "conflict", "the stream changed concurrently; retry");
    return confirm(theirs!, op);
  }
  if (prefix) await batch.append(row, prefix);
  if (data) {
    await batch.append(row, data);
    batch.appended.push({ orgId: row.orgId, path: row.path });
  }
  if (op.closed) row.closed = true;
  if (source) {
    source.forks += 1;
    batch.changed(source);
  }
  batch.changed(row);
  return { status: 201, headers: described(row), row };
}

/** PUT on an existing stream: 200 when it asks for exactly what exists, else 409. */
function confirm(row: StreamRow, op: Extract<Op, { kind: "create" }>): Outcome {
  const same =
    mediaType(op.contentType ?? (op.fork ? row.contentType : DEFAULT_CONTENT_TYPE)) === mediaType(row.contentType) &&
    (op.fork ? true : op.ttlSeconds === row.ttlSeconds && (op.expiresAt?.getTime() ?? null) === (row.expiresAt?.getTime() ?? null)) &&
    op.closed === row.closed &&
    (op.fork === null) === (row.forkOf === null) &&
    (!op.fork || ((op.fork.offset === null || op.fork.offset === row.forkOffset) && (op.fork.subOffset ?? 0) === (row.forkSubOffset ?? 0)));
  if (!same) throw new HttpError(409, "stream_exists", "a stream with this path exists with a different configuration");
  return { status: 200, headers: described(row), row };
}

/** The first `count` bytes (or JSON values) of the source's chunk at `offset`, as the fork's own first chunk. */
async function subOffsetPrefix(batch: Batch, source: StreamRow, offset: number, count: number): Promise<Uint8Array> {
  const [chunk] = await batch.reader.read(source, offset, 1);
  const invalid = (why: string) => new HttpError(400, "invalid_fork_sub_offset", `Stream-Fork-Sub-Offset: ${why}`);
  if (!chunk) throw invalid("the source has no data after Stream-Fork-Offset");
  if (!isJson(source.contentType)) {
    if (count > chunk.data.byteLength) throw invalid("beyond the end of the message at Stream-Fork-Offset");
    return chunk.data.slice(0, count);
  }
  const values = JSON.parse(new TextDecoder().decode(jsonArray([chunk.data]))) as unknown[];
  if (count > values.length) throw invalid("beyond the number of values in the message at Stream-Fork-Offset");
  return new TextEncoder().encode(values.slice(0, count).map((v) => JSON.stringify(v) + ",").join(""));
}

async function append(batch: Batch, op: Extract<Op, { kind: "append" }>, clock: Clock): Promise<Outcome> {
  const row = await usable(batch, op.orgId, op.path, clock);
  const producerKey = op.producer ? JSON.stringify([op.producer.id, op.producer.epoch, op.producer.seq]) : null;
  if (row.closed && op.close && !op.body.byteLength && !op.producer) {
    // Closing is idempotent; it still counts as a use of the stream.
    row.accessedAt = batch.now;
    batch.changed(row);
    return { status: 204, headers: tailHeaders(row) };
  }
  if (row.closed) {
    // The retry of the very write that closed the stream is a duplicate, not an error.
    if (producerKey !== null && producerKey === row.closedBy) {
      return { status: 204, headers: { ...tailHeaders(row), ...producerHeaders(op.producer!.epoch, op.producer!.seq) } };
    }
    throw new HttpError(409, "stream_closed", "the stream is closed; it takes no more appends", tailHeaders(row));
  }
  if (op.body.byteLength && op.contentType !== null && mediaType(op.contentType) !== mediaType(row.contentType)) {
    throw new HttpError(409, "content_type_mismatch", `this stream holds ${row.contentType}; the append is ${op.contentType}`);
  }
  let accepted: ProducerState | null = null;
  if (op.producer) {
    const p = op.producer;
    const current = await batch.producer(row.id, p.id);
    if (!current) {
      if (p.seq !== 0) throw gap(0, p.seq);
    } else if (p.epoch < current.epoch) {
      throw new HttpError(403, "stale_epoch", `producer epoch ${p.epoch} is older than the current ${current.epoch}`, { "Producer-Epoch": String(current.epoch) });
    } else if (p.epoch > current.epoch) {
      if (p.seq !== 0) throw new HttpError(400, "invalid_epoch_seq", "a new producer epoch starts at Producer-Seq 0");
    } else if (p.seq <= current.seq) {
      return { status: 204, headers: producerHeaders(p.epoch, current.seq) };
    } else if (p.seq !== current.seq + 1) {
      throw gap(current.seq + 1, p.seq);
    }
    accepted = { epoch: p.epoch, seq: p.seq };
  }
  if (op.seq !== null && row.lastSeq !== null && op.seq <= row.lastSeq) {
    throw new HttpError(409, "sequence_conflict", `Stream-Seq ${op.seq} is not greater than the last one, ${row.lastSeq}`);
  }
  const data = op.body.byteLength ? (isJson(row.contentType) ? jsonChunk(op.body, false) : op.body) : null;
  if (data) {
    await batch.append(row, data);
    batch.appended.push({ orgId: row.orgId, path: row.path });
  }
  if (accepted) batch.setProducer(row.id, op.producer!.id, accepted);
  if (op.seq !== null) row.lastSeq = op.seq;
  if (op.close) {
    row.closed = true;
    row.closedBy = producerKey;
  }
  row.accessedAt = batch.now;
  batch.changed(row);
  const headers: Record<string, string> = tailHeaders(row);
  if (accepted) Object.assign(headers, producerHeaders(accepted.epoch, accepted.seq));
  return { status: op.producer && data ? 200 : 204, headers, row };
}

function gap(expected: number, received: number) {
  return new HttpError(409, "sequence_gap", `expected Producer-Seq ${expected}, got ${received}`, {
    "Producer-Expected-Seq": String(expected),
    "Producer-Received-Seq": String(received),
  });
}

async function remove(batch: Batch, op: Extract<Op, { kind: "delete" }>, clock: Clock): Promise<Outcome> {
  const row = await usable(batch, op.orgId, op.path, clock);
  await drop(batch, row);
  return { status: 204, headers: {} };
}

async function expire(batch: Batch, op: Extract<Op, { kind: "expire" }>, clock: Clock): Promise<Outcome> {
  const row = await batch.rowById(op.id);
  if (row && !row.deleted && clock.expired(row, batch.now.getTime())) await drop(batch, row);
  return { status: 204, headers: {} };
}

/** Deletes a stream; one that live forks still read through is only marked deleted. */
async function drop(batch: Batch, row: StreamRow): Promise<void> {
  if (row.forks > 0) {
    row.deleted = true;
    batch.changed(row);
    return;
  }
  await batch.remove(row);
  // The last fork of a deleted source takes the source with it, up the chain.
  if (row.forkOf) {
    const parent = await batch.rowById(row.forkOf);
    if (parent) {
      parent.forks = Math.max(0, parent.forks - 1);
      if (parent.deleted && parent.forks === 0) await drop(batch, parent);
      else batch.changed(parent);
    }
  }
}

export function tailHeaders(row: StreamRow): Record<string, string> {
  const h: Record<string, string> = { "Stream-Next-Offset": offsets.format(row.tail) };
  if (row.closed) h["Stream-Closed"] = "true";
  return h;
}

function producerHeaders(epoch: number, seq: number): Record<string, string> {
  return { "Producer-Epoch": String(epoch), "Producer-Seq": String(seq) };
}

/** Headers describing a stream after create. */
function described(row: StreamRow): Record<string, string> {
  return { "Content-Type": row.contentType, ...tailHeaders(row) };
}
