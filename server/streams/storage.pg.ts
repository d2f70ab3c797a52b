// StreamStorage on Postgres (Bun.SQL; tagged queries are prepared once per connection). The
// append transaction locks each stream's row FOR UPDATE, which totally orders appends to one
// stream across replicas; pg_notify inside it tells the other replicas' live readers after
// the commit, and only if there is one.
import type { SQL } from "bun";
import { randomBytes } from "node:crypto";
import type { PgDb } from "../db";
import type { Chunk, ProducerState, StreamRow, StreamStorage, StreamTx } from "./storage";

const CHANNEL = "warren_streams";
/** Names this process in its notices ("<replica>:<stream id>"). */
const REPLICA = randomBytes(6).toString("base64url");

type RawRow = Record<string, unknown>;

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function toRow(r: RawRow | undefined): StreamRow | null {
  if (!r) return null;
  return {
    id: r.id as string,
    orgId: r.org_id as string,
    path: r.path as string,
    contentType: r.content_type as string,
    ttlSeconds: num(r.ttl_seconds),
    expiresAt: (r.expires_at as Date | null) ?? null,
    accessedAt: r.accessed_at as Date,
    createdAt: r.created_at as Date,
    tail: Number(r.tail),
    closed: r.closed as boolean,
    closedBy: (r.closed_by as string | null) ?? null,
    lastSeq: (r.last_seq as string | null) ?? null,
    forkOf: (r.fork_of as string | null) ?? null,
    forkOffset: num(r.fork_offset),
    forkSubOffset: num(r.fork_sub_offset),
    forks: Number(r.forks),
    deleted: r.deleted as boolean,
  };
}

function record(row: StreamRow) {
  return {
    id: row.id, org_id: row.orgId, path: row.path, content_type: row.contentType, ttl_seconds: row.ttlSeconds,
    expires_at: row.expiresAt, accessed_at: row.accessedAt, created_at: row.createdAt, tail: row.tail, closed: row.closed,
    closed_by: row.closedBy, last_seq: row.lastSeq, fork_of: row.forkOf, fork_offset: row.forkOffset,
    fork_sub_offset: row.forkSubOffset, forks: row.forks, deleted: row.deleted,
  };
}

function chunksOf(rows: RawRow[]): Chunk[] {
  return rows.map((r) => ({ start: Number(r.start), end: Number(r.end), data: r.data as Buffer }));
}

export function pgStorage(db: PgDb): StreamStorage {
  const sql = db.client;

  const txOf = (q: SQL): StreamTx => ({
    lock: async (orgId, path) => toRow((await q`SELECT * FROM streams WHERE org_id = ${orgId} AND path = ${path} FOR UPDATE`)[0]),
    lockId: async (id) => toRow((await q`SELECT * FROM streams WHERE id = ${id} FOR UPDATE`)[0]),
    insert: async (row) => (await q`INSERT INTO streams ${q(record(row))} ON CONFLICT (org_id, path) DO NOTHING RETURNING id`).length > 0,
    update: async (row) => {
      const r = record(row);
      await q`UPDATE streams SET content_type = ${r.content_type}, ttl_seconds = ${r.ttl_seconds}, expires_at = ${r.expires_at},
        accessed_at = ${r.accessed_at}, tail = ${r.tail}, closed = ${r.closed}, closed_by = ${r.closed_by}, last_seq = ${r.last_seq},
        forks = ${r.forks}, deleted = ${r.deleted} WHERE id = ${r.id}`;
    },
    remove: async (id) => void (await q`DELETE FROM streams WHERE id = ${id}`),
    producer: async (streamId, producerId) => {
      const [r] = await q`SELECT epoch, seq FROM stream_producers WHERE stream_id = ${streamId} AND producer_id = ${producerId}`;
      return r ? ({ epoch: Number(r.epoch), seq: Number(r.seq) } satisfies ProducerState) : null;
    },
    putProducer: async (streamId, producerId, p, at) =>
      void (await q`INSERT INTO stream_producers (stream_id, producer_id, epoch, seq, updated_at) VALUES (${streamId}, ${producerId}, ${p.epoch}, ${p.seq}, ${at})
        ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq, updated_at = excluded.updated_at`),
    addChunks: async (chunks) => {
      const rows = chunks.map((c) => ({ stream_id: c.streamId, start_pos: c.start, end_pos: c.end, data: Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength) }));
      await q`INSERT INTO stream_chunks ${q(rows)}`;
    },
    announce: async (streamId) => void (await q`SELECT pg_notify(${CHANNEL}, ${`${REPLICA}:${streamId}`})`),
  });

  return {
    find: async (orgId, path) => toRow((await sql`SELECT * FROM streams WHERE org_id = ${orgId} AND path = ${path}`)[0]),
    byId: async (id) => toRow((await sql`SELECT * FROM streams WHERE id = ${id}`)[0]),
    chunks: async (streamId, after, upto, maxBytes) =>
      chunksOf(
        await sql`SELECT start_pos AS start, end_pos AS "end", data FROM stream_chunks
          WHERE stream_id = ${streamId} AND end_pos > ${after} AND end_pos <= ${upto} AND start_pos < ${after + maxBytes} ORDER BY end_pos`,
      ),
    // COLLATE "C": byte order, as SQLite sorts, whatever the database's own collation says.
    list: async (orgId, prefix, after, limit) =>
      (
        await sql`SELECT * FROM streams WHERE org_id = ${orgId} AND NOT deleted AND left(path, length(${prefix})) = ${prefix}
          AND path COLLATE "C" > ${after} ORDER BY path COLLATE "C" LIMIT ${limit}`
      ).map((r: RawRow) => toRow(r)!),
    transaction: (fn) => sql.begin((q) => fn(txOf(q))) as Promise<never>,
    expiring: async (now, limit) =>
      (
        await sql`SELECT * FROM streams WHERE NOT deleted AND ((expires_at IS NOT NULL AND expires_at <= ${now})
          OR (ttl_seconds IS NOT NULL AND accessed_at + ttl_seconds * interval '1 second' <= ${now})) LIMIT ${limit}`
      ).map((r: RawRow) => toRow(r)!),
    touch: async (ids, at) => {
      if (ids.length) await sql`UPDATE streams SET accessed_at = GREATEST(accessed_at, ${at}) WHERE id IN ${sql(ids)}`;
    },
    async listen(onChange, onResync) {
      // Bun.SQL keeps the LISTEN connection up by itself (reconnects with backoff, re-subscribes)
      // and calls the second callback after each (re)subscription; all but the first are a resync.
      let subscribed = false;
      const sub = await sql.listen(
        CHANNEL,
        (payload) => {
          // Our own notices: this replica's readers were told at commit, with the data.
          const at = payload.indexOf(":");
          if (payload.slice(0, at) !== REPLICA) onChange(payload.slice(at + 1));
        },
        () => {
          if (subscribed) onResync?.();
          subscribed = true;
        },
      );
      return () => sub.unlisten();
    },
  };
}
