// Live reads as Server-Sent Events (Durable Streams §5.8): a data event with what is new, then
// a control event with where that leaves the reader, for every batch of data; a control event
// on each quiet long-poll interval; a final control and the end of the response when the stream
// is closed and read to its end, and after --sse-connection (a minute; clients reconnect from the
// offset: proxies with response time limits never cut a reader mid-event).
// The reader is subscribed to its stream for its whole life, so no change can slip between a
// read and a wait; news that continues where the reader is needs no query. Each pull from the
// response writes one round, so a slow client holds the loop back instead of buffering.
import { concat, isJson, isText, jsonArray } from "./content";
import type { News } from "./live";
import * as offsets from "./offsets";
import type { Streams } from "./service";
import type { Chunk, StreamRow } from "./storage";

/** News held for a reader that has not taken it yet, beyond which it reads from storage instead. */
const INBOX_BYTES = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * `data:` lines for a payload: every line break in it starts a new field, so no payload can forge
 * an event. Parsers drop one space after the colon, so a line that begins with a space gets one
 * more; other lines get none (what the protocol's suite expects to see).
 */
function field(payload: string): string {
  return payload.split(/\r\n|\r|\n/).map((line) => (line.startsWith(" ") ? `data: ${line}\n` : `data:${line}\n`)).join("") + "\n";
}

export function sseBody(streams: Streams, start: StreamRow, from: number, clientCursor: string | null): ReadableStream<Uint8Array> {
  let row = start;
  let pos = from;
  let inbox: Chunk[] = [];
  let inboxBytes = 0;
  // The row was read before this subscription existed: look again once, so that a commit in
  // between is not missed.
  let stale = true;
  let greeted = false;
  let wake: (() => void) | null = null;
  const deadline = Date.now() + streams.sseConnectionMs;
  const json = isJson(row.contentType);
  const text = isText(row.contentType);

  const unsubscribe = streams.live.subscribe(row.id, (news: News | null) => {
    if (!news) stale = true;
    else {
      row = { ...row, tail: Math.max(row.tail, news.tail), closed: row.closed || news.closed };
      for (const c of news.chunks) {
        // Keep news only while it continues exactly where the reader will be.
        const expected = inbox.length ? inbox.at(-1)!.end : pos;
        if (c.end <= expected) continue;
        if (c.start > expected || inboxBytes + c.data.byteLength > INBOX_BYTES) {
          inbox = [];
          inboxBytes = 0;
          break;
        }
        inbox.push(c);
        inboxBytes += c.data.byteLength;
      }
    }
    wake?.();
  });

  const control = (extra: Record<string, unknown>) =>
    `event: control\n${field(JSON.stringify({ streamNextOffset: offsets.format(pos), ...extra }))}`;
  const status = () =>
    row.closed && pos >= row.tail ? { streamClosed: true } : { streamCursor: offsets.cursor(clientCursor), ...(pos >= row.tail ? { upToDate: true } : {}) };

  function data(chunks: Chunk[]): string {
    const parts = chunks.map((c) => c.data);
    const payload = json ? decoder.decode(jsonArray(parts)) : text ? decoder.decode(concat(parts)) : Buffer.from(concat(parts)).toString("base64");
    pos = chunks.at(-1)!.end;
    return `event: data\n${field(payload)}`;
  }

  async function next(): Promise<Chunk[]> {
    if (streams.stopping) throw new Error("server stopping");
    if (stale) {
      stale = false;
      row = await streams.byId(row.id);
    }
    if (inbox.length && inbox[0]!.start <= pos) {
      const chunks = inbox.filter((c) => c.end > pos);
      inbox = [];
      inboxBytes = 0;
      if (chunks.length) return chunks;
    }
    return pos < row.tail ? streams.read(row, pos) : [];
  }

  function finish(controller: ReadableStreamDefaultController<Uint8Array>, last?: string) {
    unsubscribe();
    if (last) controller.enqueue(encoder.encode(last));
    controller.close();
  }

  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        for (;;) {
          const chunks = await next();
          if (chunks.length) {
            greeted = true;
            const out = data(chunks) + control(status());
            if (row.closed && chunks.at(-1)!.end >= row.tail) return finish(controller, out);
            return controller.enqueue(encoder.encode(out));
          }
          if (row.closed && pos >= row.tail) return finish(controller, control({ streamClosed: true }));
          if (!greeted) {
            greeted = true;
            return controller.enqueue(encoder.encode(control(status())));
          }
          // News that came in during the read above: go round again rather than wait.
          if (stale || inbox.length || pos < row.tail) continue;
          const left = deadline - Date.now();
          if (left <= 0) return finish(controller);
          const woke = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), Math.min(streams.longPollMs, left));
            wake = () => {
              clearTimeout(timer);
              resolve(true);
            };
          });
          wake = null;
          streams.clock.touch(row);
          if (!woke) {
            if (Date.now() >= deadline) return finish(controller);
            return controller.enqueue(encoder.encode(control(status())));
          }
        }
      } catch {
        // Deleted or expired under the reader: end the response; the client's next request says why.
        finish(controller);
      }
    },
    cancel() {
      unsubscribe();
      wake?.();
    },
  });
}
