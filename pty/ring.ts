// A session's output history: the last `capacity` bytes, addressed by absolute byte offsets
// (offset 0 = the first byte the program ever wrote), so a client can say "since 123456".
// The capacity can grow for a while (a paused program's last output, see session.ts) and shrink
// back; growing keeps every byte held, shrinking drops the oldest.

export class Ring {
  private buf: Uint8Array;
  /** Absolute offset just past the last byte written. */
  end = 0;
  /** How many bytes before `end` are held. */
  private held = 0;

  constructor(capacity: number) {
    this.buf = new Uint8Array(capacity);
  }

  get capacity(): number {
    return this.buf.length;
  }

  /** Absolute offset of the oldest byte still held. */
  get start(): number {
    return this.end - this.held;
  }

  append(chunk: Uint8Array): void {
    const cap = this.capacity;
    let data = chunk;
    if (data.length > cap) data = data.subarray(data.length - cap);
    const skipped = chunk.length - data.length;
    const pos = (this.end + skipped) % cap;
    const first = Math.min(data.length, cap - pos);
    this.buf.set(data.subarray(0, first), pos);
    if (first < data.length) this.buf.set(data.subarray(first), 0);
    this.end += chunk.length;
    this.held = Math.min(cap, this.held + chunk.length);
  }

  /** Holds `capacity` bytes from now on: more keeps everything held, less drops the oldest. */
  resize(capacity: number): void {
    if (capacity === this.capacity) return;
    const kept = this.since(this.end - Math.min(this.held, capacity));
    this.buf = new Uint8Array(capacity);
    const end = this.end;
    this.end = end - kept.reduce((n, p) => n + p.length, 0);
    this.held = 0;
    for (const part of kept) this.append(part);
    this.end = end;
  }

  /** The bytes from absolute offset `from` (clamped to start) to the end, as at most two views. */
  since(from: number): Uint8Array[] {
    const begin = Math.max(from, this.start);
    if (begin >= this.end) return [];
    const cap = this.capacity;
    const pos = begin % cap;
    const length = this.end - begin;
    const first = Math.min(length, cap - pos);
    const parts = [this.buf.slice(pos, pos + first)];
    if (first < length) parts.push(this.buf.slice(0, length - first));
    return parts;
  }
}
