// A session's output history: the last `capacity` bytes, addressed by absolute byte offsets
// (offset 0 = the first byte the program ever wrote), so a client can say "since 123456".

export class Ring {
  private buf: Uint8Array;
  /** Absolute offset just past the last byte written. */
  end = 0;

  constructor(readonly capacity: number) {
    this.buf = new Uint8Array(capacity);
  }

  /** Absolute offset of the oldest byte still held. */
  get start(): number {
    return Math.max(0, this.end - this.capacity);
  }

  append(chunk: Uint8Array): void {
    let data = chunk;
    if (data.length > this.capacity) data = data.subarray(data.length - this.capacity);
    const skipped = chunk.length - data.length;
    let pos = (this.end + skipped) % this.capacity;
    const first = Math.min(data.length, this.capacity - pos);
    this.buf.set(data.subarray(0, first), pos);
    if (first < data.length) this.buf.set(data.subarray(first), 0);
    this.end += chunk.length;
  }

  /** The bytes from absolute offset `from` (clamped to start) to the end, as at most two views. */
  since(from: number): Uint8Array[] {
    const begin = Math.max(from, this.start);
    if (begin >= this.end) return [];
    const pos = begin % this.capacity;
    const length = this.end - begin;
    const first = Math.min(length, this.capacity - pos);
    const parts = [this.buf.slice(pos, pos + first)];
    if (first < length) parts.push(this.buf.slice(0, length - first));
    return parts;
  }
}
