// StreamStorage on the embedded SQLite file. Reads use the shared reader connection; writes run
// inside db.write(), on the writer connection, so they queue behind every other module's writes
// and commit (fsync) as one transaction per batch. One process owns live delivery, so announce
// and listen are no-ops.
import type { Database, Statement } from "bun:sqlite";
import type { SqliteDb } from "../db";
import type { Chunk, ProducerState, StreamRow, StreamStorage, StreamTx } from "./storage";

const COLUMNS = `id, org_id, path, content_type, ttl_seconds, expires_at, accessed_at, created_at, tail, closed, closed_by, last_seq, fork_of, fork_offset, fork_sub_offset, forks, deleted`;

interface RawRow {
  id: string;
  org_id: string;
  path: string;
  content_type: string;
  ttl_seconds: number | null;
  expires_at: number | null;
  accessed_at: number;
  created_at: number;
  tail: number;
  closed: number;
  closed_by: string | null;
  last_seq: string | null;
  fork_of: string | null;
  fork_offset: number | null;
  fork_sub_offset: number | null;
  forks: number;
  deleted: number;
}

function toRow(r: RawRow | null): StreamRow | null {
  if (!r) return null;
  return {
    id: r.id,
    orgId: r.org_id,
    path: r.path,
    contentType: r.content_type,
    ttlSeconds: r.ttl_seconds,
    expiresAt: r.expires_at === null ? null : new Date(r.expires_at),
    accessedAt: new Date(r.accessed_at),
    createdAt: new Date(r.created_at),
    tail: r.tail,
    closed: r.closed === 1,
    closedBy: r.closed_by,
    lastSeq: r.last_seq,
    forkOf: r.fork_of,
    forkOffset: r.fork_offset,
    forkSubOffset: r.fork_sub_offset,
    forks: r.forks,
    deleted: r.deleted === 1,
  };
}

function values(row: StreamRow) {
  return [
    row.id, row.orgId, row.path, row.contentType, row.ttlSeconds, row.expiresAt?.getTime() ?? null, row.accessedAt.getTime(),
    row.createdAt.getTime(), row.tail, row.closed ? 1 : 0, row.closedBy, row.lastSeq, row.forkOf, row.forkOffset,
    row.forkSubOffset, row.forks, row.deleted ? 1 : 0,
  ] as const;
}

const CHUNKS = `SELECT start_pos AS start, end_pos AS "end", data FROM stream_chunks WHERE stream_id = ? AND end_pos > ? AND end_pos <= ? AND start_pos < ? ORDER BY end_pos`;

function statements(c: Database) {
  return {
    find: c.prepare<RawRow, [string, string]>(`SELECT ${COLUMNS} FROM streams WHERE org_id = ? AND path = ?`),
    byId: c.prepare<RawRow, [string]>(`SELECT ${COLUMNS} FROM streams WHERE id = ?`),
    chunks: c.prepare<Chunk, [string, number, number, number]>(CHUNKS),
    // SQLite compares text bytewise (BINARY): path >= prefix bounds the index range, and substr
    // (not LIKE, which folds ASCII case and treats % and _ as wildcards) matches the prefix.
    list: c.prepare<RawRow, [string, string, string, string, string, number]>(
      `SELECT ${COLUMNS} FROM streams WHERE org_id = ? AND path >= ? AND substr(path, 1, length(?)) = ? AND path > ? AND NOT deleted ORDER BY path LIMIT ?`,
    ),
  };
}

function writerStatements(c: Database) {
  const set = COLUMNS.split(", ").slice(1).map((col) => `${col} = ?`).join(", ");
  return {
    ...statements(c),
    insert: c.prepare(`INSERT INTO streams (${COLUMNS}) VALUES (${COLUMNS.split(", ").map(() => "?").join(", ")}) ON CONFLICT (org_id, path) DO NOTHING`),
    update: c.prepare(`UPDATE streams SET ${set} WHERE id = ?`),
    remove: c.prepare(`DELETE FROM streams WHERE id = ?`),
    producer: c.prepare<ProducerState, [string, string]>(`SELECT epoch, seq FROM stream_producers WHERE stream_id = ? AND producer_id = ?`),
    putProducer: c.prepare(
      `INSERT INTO stream_producers (stream_id, producer_id, epoch, seq, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = excluded.epoch, seq = excluded.seq, updated_at = excluded.updated_at`,
    ),
    addChunk: c.prepare(`INSERT INTO stream_chunks (stream_id, start_pos, end_pos, data) VALUES (?, ?, ?, ?)`),
  };
}

export function sqliteStorage(db: SqliteDb): StreamStorage {
  const read = statements(db.client);
  let writer: { client: Database; s: ReturnType<typeof writerStatements> } | null = null;
  const writerFor = (client: Database) => {
    if (writer?.client !== client) writer = { client, s: writerStatements(client) };
    return writer.s;
  };

  return {
    find: async (orgId, path) => toRow(read.find.get(orgId, path)),
    byId: async (id) => toRow(read.byId.get(id)),
    chunks: async (streamId, after, upto, maxBytes) => read.chunks.all(streamId, after, upto, after + maxBytes),
    list: async (orgId, prefix, after, limit) => read.list.all(orgId, prefix, prefix, prefix, after, limit).map((r) => toRow(r)!),

    transaction: (fn) =>
      db.write(async (orm) => {
        const s = writerFor((orm as unknown as { $client: Database }).$client);
        const tx: StreamTx = {
          lock: async (orgId, path) => toRow(s.find.get(orgId, path)),
          lockId: async (id) => toRow(s.byId.get(id)),
          insert: async (row) => s.insert.run(...values(row)).changes > 0,
          update: async (row) => void s.update.run(...values(row).slice(1), row.id),
          remove: async (id) => void s.remove.run(id),
          producer: async (streamId, producerId) => s.producer.get(streamId, producerId),
          putProducer: async (streamId, producerId, p, at) => void s.putProducer.run(streamId, producerId, p.epoch, p.seq, at.getTime()),
          addChunks: async (chunks) => {
            for (const c of chunks) s.addChunk.run(c.streamId, c.start, c.end, c.data);
          },
          announce: async () => {},
        };
        return fn(tx);
      }),

    async expiring(now, limit) {
      const rows = db.client
        .query<RawRow, [number, number, number]>(
          `SELECT ${COLUMNS} FROM streams WHERE NOT deleted AND ((expires_at IS NOT NULL AND expires_at <= ?) OR (ttl_seconds IS NOT NULL AND accessed_at + ttl_seconds * 1000 <= ?)) LIMIT ?`,
        )
        .all(now.getTime(), now.getTime(), limit);
      return rows.map((r) => toRow(r)!);
    },

    touch: (ids, at) =>
      db.write(async (orm) => {
        const c = (orm as unknown as { $client: Database }).$client;
        const st: Statement = c.prepare(`UPDATE streams SET accessed_at = max(accessed_at, ?) WHERE id = ?`);
        for (const id of ids) st.run(at.getTime(), id);
      }),

    listen: async () => async () => {},
  };
}
