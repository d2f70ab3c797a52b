// What the streams module needs from the database, as a handful of primitive operations. The
// append path runs these thousands of times a second, so each dialect implements them with
// hand-written prepared SQL (storage.sqlite.ts, storage.pg.ts) instead of drizzle's builder,
// which costs ~20 µs a query to build; the tables themselves are declared once in
// server/db/schema.ts and migrated like every other. Every rule lives above this line, once.
import type { Db } from "../db";

export interface StreamRow {
  id: string;
  orgId: string;
  path: string;
  contentType: string;
  ttlSeconds: number | null;
  expiresAt: Date | null;
  accessedAt: Date;
  createdAt: Date;
  tail: number;
  closed: boolean;
  closedBy: string | null;
  lastSeq: string | null;
  forkOf: string | null;
  forkOffset: number | null;
  forkSubOffset: number | null;
  forks: number;
  deleted: boolean;
}

export interface Chunk {
  start: number;
  end: number;
  data: Uint8Array;
}

export interface ProducerState {
  epoch: number;
  seq: number;
}

/** One write transaction. Rows read through it are locked until it ends (Postgres: FOR UPDATE). */
export interface StreamTx {
  lock(orgId: string, path: string): Promise<StreamRow | null>;
  lockId(id: string): Promise<StreamRow | null>;
  /** False when a concurrent writer created the same (org, path) first. */
  insert(row: StreamRow): Promise<boolean>;
  update(row: StreamRow): Promise<void>;
  remove(id: string): Promise<void>;
  producer(streamId: string, producerId: string): Promise<ProducerState | null>;
  putProducer(streamId: string, producerId: string, state: ProducerState, at: Date): Promise<void>;
  /** All of a batch's chunks, in one statement where the dialect allows. */
  addChunks(chunks: (Chunk & { streamId: string })[]): Promise<void>;
  /** Tell other replicas that a stream changed, delivered when this transaction commits. */
  announce(streamId: string): Promise<void>;
}

export interface StreamStorage {
  find(orgId: string, path: string): Promise<StreamRow | null>;
  byId(id: string): Promise<StreamRow | null>;
  /** Chunks of one stream with after < end <= upto, starting before after + maxBytes, in order. */
  chunks(streamId: string, after: number, upto: number, maxBytes: number): Promise<Chunk[]>;
  transaction<T>(fn: (tx: StreamTx) => Promise<T>): Promise<T>;
  /**
   * One page of an org's streams (deleted ones left out) whose path starts with `prefix`, after
   * the path `after`, in byte order of path: the same order on both dialects, so a cursor means
   * the same thing everywhere.
   */
  list(orgId: string, prefix: string, after: string, limit: number): Promise<StreamRow[]>;
  /** Streams whose expiry has passed by `now` by the database's clock of record (ours). */
  expiring(now: Date, limit: number): Promise<StreamRow[]>;
  /** Moves accessedAt forward (never back) for TTL streams that were read. */
  touch(ids: string[], at: Date): Promise<void>;
  /**
   * Calls back with the stream id whenever another replica announces a change, and `onResync`
   * after the channel was lost and is back (Postgres restarted): notices sent meanwhile are gone,
   * so every live reader must look again.
   */
  listen(onChange: (streamId: string) => void, onResync?: () => void): Promise<() => Promise<void>>;
}

export async function openStorage(db: Db): Promise<StreamStorage> {
  if (db.dialect === "sqlite") return (await import("./storage.sqlite")).sqliteStorage(db);
  return (await import("./storage.pg")).pgStorage(db);
}
