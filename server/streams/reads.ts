// Reading a stream's bytes from an offset, across the fork chain: a fork reads its source (and
// its source's source) up to its fork offset, then its own chunks. A read returns at most about
// maxBytes, so a catch-up of any size is served in bounded memory; the client follows
// Stream-Next-Offset. Which stream a fork reads through never changes, so it is cached.
import type { Chunk, StreamRow, StreamStorage } from "./storage";

interface Segment {
  id: string;
  upto: number;
}

const END = Number.MAX_SAFE_INTEGER;

export class Reader {
  private forkOf = new Map<string, { source: string; offset: number } | null>();

  constructor(private storage: StreamStorage) {}

  private async segments(row: StreamRow): Promise<Segment[]> {
    const chain: Segment[] = [{ id: row.id, upto: END }];
    let cap = row.forkOffset ?? END;
    let link = row.forkOf ? { source: row.forkOf, offset: row.forkOffset! } : null;
    while (link) {
      chain.unshift({ id: link.source, upto: cap });
      let next = this.forkOf.get(link.source);
      if (next === undefined) {
        const source = await this.storage.byId(link.source);
        next = source?.forkOf ? { source: source.forkOf, offset: source.forkOffset! } : null;
        this.forkOf.set(link.source, next);
      }
      if (next) cap = Math.min(cap, next.offset);
      link = next;
    }
    return chain;
  }

  /** Chunks after `after`, about maxBytes of them (at least one when there is any). */
  async read(row: StreamRow, after: number, maxBytes: number): Promise<Chunk[]> {
    const out: Chunk[] = [];
    if (after >= row.tail) return out;
    let pos = after;
    let budget = maxBytes;
    for (const seg of await this.segments(row)) {
      if (pos >= seg.upto) continue;
      const chunks = await this.storage.chunks(seg.id, pos, Math.min(seg.upto, row.tail), Math.max(budget, 1));
      for (const c of chunks) {
        out.push(c);
        pos = c.end;
        budget -= c.data.byteLength;
      }
      if (budget <= 0) break;
    }
    return out;
  }
}
