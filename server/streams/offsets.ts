// Offsets on the wire (Durable Streams §8): opaque to clients, lexicographically sortable, never
// `-1` or `now`. Ours are `<epoch 16 digits>_<byte position 16 digits>`: the position in the
// stream's offset space, zero-padded so that string order is numeric order. The epoch part is
// always 0 today; it is room for a future compaction to renumber without breaking sort order.
const WIDTH = 16;
const PATTERN = /^(\d{1,16})_(\d{1,16})$/;

export const ZERO = format(0);

export function format(position: number): string {
  return `${"0".repeat(WIDTH)}_${String(position).padStart(WIDTH, "0")}`;
}

/** The byte position an offset names, or null when it is not one of ours. */
export function parse(offset: string): number | null {
  const m = PATTERN.exec(offset);
  if (!m) return null;
  const position = Number(m[2]);
  return Number.isSafeInteger(position) ? position : null;
}

/** Stream-Cursor (§10): 20-second intervals since 2024-10-09, pushed past the client's echo. */
const CURSOR_EPOCH = Date.UTC(2024, 9, 9);
const CURSOR_INTERVAL_S = 20;

export function cursor(clientCursor: string | null, now = Date.now()): string {
  const current = Math.floor((now - CURSOR_EPOCH) / 1000 / CURSOR_INTERVAL_S);
  const echoed = clientCursor !== null && /^\d+$/.test(clientCursor) ? Number(clientCursor) : -1;
  if (echoed < current) return String(current);
  // A client that already holds this interval gets a strictly greater one, with jitter (1 s–1 h)
  // so that many clients do not all come back in the same interval.
  const jitterS = 1 + Math.floor(Math.random() * 3600);
  return String(echoed + Math.max(1, Math.ceil(jitterS / CURSOR_INTERVAL_S)));
}
