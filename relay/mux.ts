// Many streams over one WebSocket-like transport, with per-stream credit (docs/relay.md).
// A sender never has more DATA outstanding on a stream than the credit the receiver gave it; the
// receiver returns credit only when its consumer has taken the bytes (read()). So a stalled
// consumer stops its own stream after one window and costs at most one window of memory, while
// every other stream keeps flowing. Streams with data and credit take turns, one frame each, and
// nothing is written while the socket itself is backed up.
import { decode, encode, HEADER, encodeJson, encodeU32, FRAME, head, INITIAL_WINDOW, json, MAX_ASSEMBLING, MAX_DATA, MessageReader, messagePieces, RST_CODE, u32, type Frame, type Head, type Message, type Open } from "./codec";

export interface Transport {
  /** Must be done with `frame` when it returns (WebSocket sends copy): DATA frames share a buffer. */
  send(frame: Uint8Array): void;
  /** Bytes the socket has accepted but not yet written out. */
  buffered(): number;
}

export interface MuxOptions {
  /** The server opens even stream ids, the host odd ones. */
  side: "server" | "host";
  /** A stream the other end opened: answer with respond(), then read/write it. */
  onOpen?(stream: Stream, open: Open): void;
  /** Frames on stream 0 (HELLO, PING, PONG, TOKEN, GOAWAY). PINGs are answered already. */
  onControl?(frame: Frame): void;
  /** The other end broke the protocol; the owner should close the transport. */
  onError?(message: string): void;
  window?: number;
  maxStreams?: number;
  /** Told of the stream bytes each way and of credit stalls (the server's metrics). */
  meter?: Meter;
}

export interface Meter {
  sent(bytes: number): void;
  received(bytes: number): void;
  /** A stream had data to send and no credit: its reader is behind. */
  stalled(): void;
}

/** Stop handing frames to the socket while this much is waiting in it. */
const SOCKET_HIGH_WATER = 4 * 1024 * 1024;
/**
 * Credit goes back in batches of a quarter window: fewer WINDOW frames, and never a stall — with
 * less than a quarter window held back, the sender still has room for a whole frame.
 */
const CREDIT_BATCH_FRACTION = 4;

export class RelayError extends Error {
  constructor(
    message: string,
    readonly status = 502,
    readonly code = "host_unavailable",
  ) {
    super(message);
  }
}

/** Why a stream ended without an answer, as the client will hear it. */
function endedBecause(code: number): RelayError {
  if (code === RST_CODE.CLOSED) return new RelayError("the host disconnected");
  if (code === RST_CODE.PROTOCOL) return new RelayError("the host sent an answer Warren cannot use", 502, "bad_host_response");
  return new RelayError("the host refused or dropped the stream");
}

interface Piece {
  bytes: Uint8Array;
  /** Resolves the write() this is the last piece of. */
  done?: () => void;
}

export class Stream {
  /** Credit we may still spend sending. */
  credit: number;
  /** Credit the other end may still spend sending to us. */
  private recvCredit: number;
  private toReturn = 0;
  private inq: Uint8Array[] = [];
  private outq: Piece[] = [];
  /** Bytes written but not yet sent (waiting for credit or the socket). */
  queued = 0;
  private wakeReader: (() => void) | null = null;
  private finSent = false;
  private finQueued = false;
  private finReceived = false;
  private messages = new MessageReader();
  /** Set when the stream was reset (by either end) or its connection closed. */
  resetCode: number | null = null;
  readonly head: Promise<Head>;
  private settleHead!: { resolve: (h: Head) => void; reject: (e: Error) => void };
  readonly closed: Promise<void>;
  private markClosed!: () => void;

  private batch: number;

  constructor(
    private mux: Mux,
    readonly id: number,
    window: number,
  ) {
    this.batch = Math.min(window / CREDIT_BATCH_FRACTION, window - MAX_DATA);
    this.credit = window;
    this.recvCredit = window;
    this.head = new Promise((resolve, reject) => (this.settleHead = { resolve, reject }));
    this.head.catch(() => {});
    this.closed = new Promise((r) => (this.markClosed = r));
  }

  /** The acceptor's answer to OPEN. */
  respond(head: Head): void {
    if (this.resetCode === null) this.mux.sendNow(encodeJson(FRAME.HEAD, this.id, head));
  }

  /** Queues bytes; resolves once they are on the socket. Await it to respect backpressure. */
  write(bytes: Uint8Array): Promise<void> {
    if (this.resetCode !== null || this.finQueued) return Promise.resolve();
    if (bytes.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      for (let at = 0; at < bytes.length; at += MAX_DATA) {
        const last = at + MAX_DATA >= bytes.length;
        this.outq.push({ bytes: bytes.subarray(at, at + MAX_DATA), done: last ? resolve : undefined });
      }
      this.queued += bytes.length;
      this.mux.schedule(this);
    });
  }

  writeMessage(m: Message): Promise<void> {
    if (this.resetCode !== null || this.finQueued) return Promise.resolve();
    const pieces = messagePieces(m);
    return new Promise((resolve) => {
      pieces.forEach((bytes, i) => this.outq.push({ bytes, done: i === pieces.length - 1 ? resolve : undefined }));
      this.queued += pieces.reduce((n, p) => n + p.length, 0);
      this.mux.schedule(this);
    });
  }

  /** No more writes: FIN follows the queued data. */
  end(): void {
    if (this.finQueued || this.resetCode !== null) return;
    this.finQueued = true;
    this.mux.schedule(this);
  }

  /** Aborts the stream both ways and tells the other end. */
  reset(code: number = RST_CODE.CANCEL): void {
    if (this.resetCode !== null) return;
    this.mux.sendNow(encodeU32(FRAME.RST, this.id, code));
    this.terminate(code);
  }

  /** The next DATA payload; null once the other end finished (FIN) or the stream was reset. */
  async read(): Promise<Uint8Array | null> {
    while (this.inq.length === 0) {
      if (this.finReceived || this.resetCode !== null) return null;
      await new Promise<void>((r) => (this.wakeReader = r));
    }
    const chunk = this.inq.shift()!;
    this.giveCredit(chunk.length);
    return chunk;
  }

  /** The next whole message of a message stream; null at its end. */
  async readMessage(): Promise<Message | null> {
    for (;;) {
      const piece = await this.read();
      if (!piece) return null;
      let m: Message | null;
      try {
        const held = this.messages.size;
        m = this.messages.push(piece);
        this.mux.hold(this.messages.size - held);
      } catch {
        this.reset(RST_CODE.PROTOCOL);
        return null;
      }
      if (m) return m;
    }
  }

  // ---- used by Mux ----

  /** The next frame to send, if credit allows; null when there is nothing sendable. */
  nextFrame(): Uint8Array | null {
    const piece = this.outq[0];
    if (piece) {
      if (piece.bytes.length > this.credit) {
        this.mux.meter?.stalled();
        return null;
      }
      this.outq.shift();
      this.credit -= piece.bytes.length;
      this.queued -= piece.bytes.length;
      this.mux.meter?.sent(piece.bytes.length);
      piece.done?.();
      return encode(FRAME.DATA, this.id, piece.bytes, this.mux.scratch);
    }
    if (this.finQueued && !this.finSent) {
      this.finSent = true;
      this.settleIfDone();
      return encode(FRAME.FIN, this.id);
    }
    return null;
  }

  get sendable(): boolean {
    const piece = this.outq[0];
    return piece ? piece.bytes.length <= this.credit : this.finQueued && !this.finSent;
  }

  received(f: Frame): void {
    switch (f.type) {
      case FRAME.HEAD: {
        const h = head(f.payload);
        if (h) this.settleHead.resolve(h);
        else this.reset(RST_CODE.PROTOCOL);
        return;
      }
      case FRAME.DATA:
        if (this.finReceived || f.payload.length > MAX_DATA) return this.reset(RST_CODE.PROTOCOL);
        if (f.payload.length > this.recvCredit) return this.reset(RST_CODE.PROTOCOL);
        this.recvCredit -= f.payload.length;
        this.mux.meter?.received(f.payload.length);
        // The frame's buffer belongs to the socket message; keep only our bytes.
        this.inq.push(f.payload);
        return this.wake();
      case FRAME.WINDOW: {
        const n = u32(f.payload);
        if (n === null) return this.reset(RST_CODE.PROTOCOL);
        this.credit += n;
        return this.mux.schedule(this);
      }
      case FRAME.FIN:
        this.finReceived = true;
        this.wake();
        return this.settleIfDone();
      case FRAME.RST:
        return this.terminate(u32(f.payload) ?? RST_CODE.CANCEL);
    }
  }

  /** Ends the stream locally (reset or the connection closed). */
  terminate(code: number): void {
    if (this.resetCode !== null) return;
    this.resetCode = code;
    this.settleHead.reject(endedBecause(code));
    for (const p of this.outq) p.done?.();
    this.outq = [];
    this.queued = 0;
    this.inq = [];
    this.mux.hold(-this.messages.drop());
    this.wake();
    this.mux.forget(this);
    this.markClosed();
  }

  private giveCredit(n: number): void {
    this.toReturn += n;
    if (this.toReturn >= this.batch) {
      if (this.resetCode === null && !this.finReceived) this.mux.sendNow(encodeU32(FRAME.WINDOW, this.id, this.toReturn));
      this.recvCredit += this.toReturn;
      this.toReturn = 0;
    }
  }

  private settleIfDone(): void {
    if (this.finSent && this.finReceived && this.resetCode === null) {
      this.resetCode = 0;
      this.mux.hold(-this.messages.drop());
      this.settleHead.reject(new RelayError("the stream ended without an answer"));
      this.mux.forget(this);
      this.wake();
      this.markClosed();
    }
  }

  private wake(): void {
    const w = this.wakeReader;
    this.wakeReader = null;
    w?.();
  }
}

export class Mux {
  private streams = new Map<number, Stream>();
  private nextId: number;
  private ready: Stream[] = [];
  private pumping = false;
  private waitingForSocket: ReturnType<typeof setTimeout> | null = null;
  private dead = false;
  readonly window: number;
  readonly meter?: Meter;
  private maxStreams: number;
  /** Bytes all streams hold in incomplete messages (bounded by MAX_ASSEMBLING). */
  private assembling = 0;
  /** DATA frames are built here and sent at once (the transport copies them). */
  readonly scratch = new Uint8Array(HEADER + MAX_DATA);

  constructor(
    private transport: Transport,
    private o: MuxOptions,
  ) {
    this.nextId = o.side === "server" ? 2 : 1;
    this.window = o.window ?? INITIAL_WINDOW;
    this.meter = o.meter;
    this.maxStreams = o.maxStreams ?? 1000;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Opens a stream to the other end; its answer arrives in `stream.head`. */
  open(open: Open): Stream {
    if (this.dead) throw new RelayError("the host is not connected", 503);
    if (this.streams.size >= this.maxStreams) throw new RelayError("too many streams to this host at once", 503);
    const s = new Stream(this, this.nextId, this.window);
    this.nextId += 2;
    this.streams.set(s.id, s);
    this.sendNow(encodeJson(FRAME.OPEN, s.id, open));
    return s;
  }

  /** Sends a connection-level frame (stream 0). */
  control(type: (typeof FRAME)["PING" | "PONG" | "GOAWAY" | "HELLO" | "TOKEN" | "CHANGED"], payload?: Uint8Array | object): void {
    this.sendNow(payload instanceof Uint8Array || payload === undefined ? encode(type, 0, payload) : encodeJson(type, 0, payload));
  }

  /** Feed every binary message the transport receives here. */
  receive(bytes: Uint8Array): void {
    if (this.dead) return;
    const f = decode(bytes);
    if (!f) return this.o.onError?.("a relay frame that is not one");
    if (f.stream === 0) {
      if (f.type === FRAME.PING) this.sendNow(encode(FRAME.PONG, 0, f.payload));
      return this.o.onControl?.(f);
    }
    if (f.type === FRAME.OPEN) {
      const ours = f.stream % 2 === (this.o.side === "server" ? 0 : 1);
      const open = json<Open>(f.payload);
      if (ours || this.streams.has(f.stream) || !open || typeof open.kind !== "string") return this.o.onError?.("a bad OPEN frame");
      if (this.streams.size >= this.maxStreams || !this.o.onOpen) return this.sendNow(encodeU32(FRAME.RST, f.stream, RST_CODE.CANCEL));
      const s = new Stream(this, f.stream, this.window);
      this.streams.set(s.id, s);
      return this.o.onOpen(s, open);
    }
    // Frames for a stream that has just ended (the other end had not yet heard) are dropped.
    this.streams.get(f.stream)?.received(f);
  }

  /** The transport is gone: every stream ends. */
  closeAll(): void {
    this.dead = true;
    if (this.waitingForSocket) clearTimeout(this.waitingForSocket);
    for (const s of [...this.streams.values()]) s.terminate(RST_CODE.CLOSED);
  }

  /** The transport's buffer emptied (Bun's drain): resume sending. */
  drained(): void {
    this.pump();
  }

  // ---- used by Stream ----

  /** Accounts for bytes a stream holds in an incomplete message; throws past the budget. */
  hold(bytes: number): void {
    this.assembling += bytes;
    if (bytes > 0 && this.assembling > MAX_ASSEMBLING) throw new RelayError("too much held in incomplete messages");
  }

  sendNow(frame: Uint8Array): void {
    if (!this.dead) this.transport.send(frame);
  }

  schedule(s: Stream): void {
    if (!this.ready.includes(s)) this.ready.push(s);
    this.pump();
  }

  forget(s: Stream): void {
    this.streams.delete(s.id);
    const i = this.ready.indexOf(s);
    if (i >= 0) this.ready.splice(i, 1);
  }

  private pump(): void {
    if (this.pumping || this.dead) return;
    this.pumping = true;
    try {
      while (this.ready.length > 0) {
        if (this.transport.buffered() > SOCKET_HIGH_WATER) {
          // A client WebSocket has no drain event; a server one calls drained() sooner.
          this.waitingForSocket ??= setTimeout(() => {
            this.waitingForSocket = null;
            this.pump();
          }, 2);
          return;
        }
        const s = this.ready.shift()!;
        const frame = s.nextFrame();
        if (!frame) continue; // out of credit: WINDOW reschedules it
        this.transport.send(frame);
        if (s.sendable) this.ready.push(s);
      }
    } finally {
      this.pumping = false;
    }
  }
}
