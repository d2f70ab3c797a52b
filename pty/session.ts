// One terminal session: a program on a PTY, its output ring, and the clients attached to it.
// The session outlives its clients. Each client has a flow-control window: it is sent output
// only while (sent − acked) is under the window, so a slow or stalled client costs at most a
// window of memory. Backpressure: while a client with write access is acking (an ack within
// `stallMs`), the program is paused before that client would fall out of the ring — a slow
// reader loses nothing, as with ssh's channel window. A view-only or stalled client never
// pauses it: the ring absorbs the rest, and once it falls out it gets `reset` and the ring.
// At exit each client receives every byte, then `exit`, then close 1000.
import type { PtyBackend, PtyExit, PtyProcess } from "./backend";
import { CLOSE, encode, type ClientMessage } from "./protocol";
import { Ring } from "./ring";

/** How a session talks to one attached client (a WebSocket, in the server). */
export interface Sink {
  binary(bytes: Uint8Array): void;
  text(message: string): void;
  close(code: number, reason: string): void;
  /**
   * Resolves once the client can take more. Only a relayed attach waits on it, so that relay
   * credit is returned when the client's socket took the bytes, not before.
   */
  whenWritable?(): Promise<void> | void;
}

export interface SessionOptions {
  id: string;
  orgId: string;
  createdBy: string;
  cmd: string[];
  cwd: string;
  env: Record<string, string>;
  cols: number;
  rows: number;
  ringBytes: number;
  windowBytes: number;
  idleMs: number;
  /** A writer with no ack for this long no longer holds the program back (it is stalled). */
  stallMs: number;
  /** Called once the session is over and its grace period for late reattaches has passed. */
  onGone(id: string): void;
  meter?: SessionMeter;
  /** Its list entry changed (clients attached or left, the program exited): for live dashboards. */
  onChange?(orgId: string): void;
}

/** What a session reports (the server's metrics; a host agent reports nowhere). */
export interface SessionMeter {
  output(bytes: number): void;
  /** A client fell out of the ring and was reset. */
  overflow(): void;
}

/** After exit, a session stays reattachable (history and exit status) this long. */
const EXITED_GRACE_MS = 10 * 60_000;
/**
 * The program starts when the first client attaches, or after this long if none does: whoever
 * creates a terminal and attaches at once sees its very first byte, however fast it writes.
 */
const START_WITHOUT_CLIENT_MS = 2_000;
const KILL_AFTER_MS = 5_000;
/** Backpressure thresholds, as fractions of the ring: pause at, and resume under (see flow()). */
const PAUSE_AT = 0.75;
const RESUME_AT = 0.5;
/** How far the ring may grow for output that was already on its way when the program was paused. */
const MAX_GROWTH = 16;
/**
 * A flood of output is a flood of short-lived buffers; asking the collector to run every so
 * often keeps the process's memory near its bound (ring + windows) instead of the GC's own slack.
 */
const GC_EVERY_BYTES = 8 * 1024 * 1024;

export class Attachment {
  sent: number;
  acked: number;
  done = false;
  /** When it last acked (or attached): a writer is live, and may pause the program, for stallMs after. */
  lastAck = Date.now();

  constructor(
    readonly sink: Sink,
    readonly writable: boolean,
    from: number,
  ) {
    this.sent = from;
    this.acked = from;
  }
}

export class TerminalSession {
  readonly id: string;
  readonly orgId: string;
  readonly createdBy: string;
  readonly cmd: string[];
  readonly createdAt = new Date();
  cols: number;
  rows: number;
  exit: PtyExit | null = null;
  private ring: Ring;
  private clients = new Set<Attachment>();
  private proc: PtyProcess | undefined;
  private startTimer: ReturnType<typeof setTimeout> | undefined;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private killTimer: ReturnType<typeof setTimeout> | undefined;
  /** The program is paused for a slow writer (backpressure). */
  private paused = false;
  private stallTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private backend: PtyBackend,
    private o: SessionOptions,
  ) {
    this.id = o.id;
    this.orgId = o.orgId;
    this.createdBy = o.createdBy;
    this.cmd = o.cmd;
    this.cols = o.cols;
    this.rows = o.rows;
    this.ring = new Ring(o.ringBytes);
    this.startTimer = setTimeout(() => this.start(), START_WITHOUT_CLIENT_MS);
  }

  private start(): void {
    if (this.proc) return;
    clearTimeout(this.startTimer);
    const o = this.o;
    this.proc = this.backend.spawn({ cmd: o.cmd, cwd: o.cwd, env: o.env, cols: this.cols, rows: this.rows, onData: (c) => this.output(c) });
    this.proc.exited.then((e) => this.exited(e));
    this.armIdle();
  }

  get offset(): number {
    return this.ring.end;
  }

  get attached(): number {
    return this.clients.size;
  }

  /**
   * Attaches a client. With `since` inside the ring it gets exactly the bytes after it; without
   * one, the whole ring; with one outside the ring, `reset` and then the whole ring.
   */
  attach(sink: Sink, o: { writable: boolean; since?: number; cols?: number; rows?: number }): Attachment {
    const inRing = o.since !== undefined && o.since >= this.ring.start && o.since <= this.ring.end;
    const from = inRing ? o.since! : this.ring.start;
    const a = new Attachment(sink, o.writable && !this.exit, from);
    if (a.writable && o.cols && o.rows) this.resize(o.cols, o.rows, a);
    sink.text(encode({ type: "hello", offset: from, cols: this.cols, rows: this.rows, writable: a.writable }));
    // A `since` the ring cannot continue from (its bytes are gone, or it is from another
    // session's numbering): the client must clear its screen before this replay (SPEC §5).
    if (o.since !== undefined && !inRing) sink.text(encode({ type: "reset", offset: from }));
    this.clients.add(a);
    clearTimeout(this.idleTimer);
    this.pump(a);
    this.start();
    this.o.onChange?.(this.orgId);
    return a;
  }

  detach(a: Attachment): void {
    a.done = true;
    if (this.clients.delete(a)) this.o.onChange?.(this.orgId);
    this.flow();
    this.armIdle();
  }

  input(a: Attachment, bytes: Uint8Array): void {
    if (a.writable && !this.exit) this.proc?.write(bytes);
  }

  control(a: Attachment, m: ClientMessage): void {
    if (m.type === "ack") {
      a.acked = Math.max(a.acked, Math.min(m.offset, a.sent));
      a.lastAck = Date.now();
      this.pump(a);
      this.flow();
    } else if (a.writable && !this.exit) {
      this.resize(m.cols, m.rows, a);
    }
  }

  /** SIGHUP, as a closing terminal would; SIGKILL if the program is still there 5 s later. */
  kill(): void {
    if (this.exit) return;
    this.start(); // a program never started still gets its exit, so clients and lists see the end
    this.proc!.signal("SIGHUP");
    this.killTimer ??= setTimeout(() => this.exit || this.proc!.signal("SIGKILL"), KILL_AFTER_MS);
  }

  /** Server shutdown: tell clients to come back later, end the program. */
  shutdown(): void {
    for (const a of this.clients) a.sink.close(CLOSE.GOING_AWAY, "server shutting down");
    this.clients.clear();
    this.kill();
  }

  private resize(cols: number, rows: number, by: Attachment): void {
    if (cols === this.cols && rows === this.rows) return;
    this.cols = cols;
    this.rows = rows;
    this.proc?.resize(cols, rows);
    for (const a of this.clients) if (a !== by) a.sink.text(encode({ type: "resized", cols, rows }));
  }

  private output(chunk: Uint8Array): void {
    const before = this.ring.end;
    if (this.paused) this.makeRoom(chunk.length);
    this.ring.append(chunk);
    this.o.meter?.output(chunk.length);
    if (Math.floor(before / GC_EVERY_BYTES) !== Math.floor(this.ring.end / GC_EVERY_BYTES)) Bun.gc(false);
    let behind = 0; // the most any writer still has to be sent: flow() only runs when it matters
    for (const a of this.clients) {
      // The common case, a client that is keeping up: hand it the chunk itself, no copy.
      if (!a.done && a.sent === before && this.ring.end - a.acked <= this.o.windowBytes) {
        a.sink.binary(chunk);
        a.sent = this.ring.end;
      } else this.pump(a);
      if (a.writable) behind = Math.max(behind, this.ring.end - a.sent);
    }
    if (!this.paused && behind >= this.o.ringBytes * PAUSE_AT) this.flow();
  }

  /** Sends a client what it is owed, within its window; after exit, the exit once caught up. */
  private pump(a: Attachment): void {
    if (a.done || a.sent - a.acked >= this.o.windowBytes) return; // stalled: wait for its ack
    if (a.sent < this.ring.start) {
      a.sent = a.acked = this.ring.start;
      if (a.sent > 0) this.o.meter?.overflow();
      a.sink.text(encode({ type: "reset", offset: a.sent }));
    }
    const limit = Math.min(this.ring.end, a.acked + this.o.windowBytes);
    if (a.sent < limit) {
      for (const part of this.ring.since(a.sent)) {
        const take = Math.min(part.length, limit - a.sent);
        if (take <= 0) break;
        a.sink.binary(take === part.length ? part : part.subarray(0, take));
        a.sent += take;
      }
    }
    if (this.exit && a.sent === this.ring.end) {
      a.sink.text(encode({ type: "exit", code: this.exit.code, signal: this.exit.signal }));
      a.sink.close(CLOSE.EXITED, "exited");
      this.detach(a);
    }
  }

  /**
   * Pauses the program when a live writer has PAUSE_AT of the ring still to be sent to it (its
   * window is full), resumes it once every live writer is back under RESUME_AT or has stalled.
   * Measured from what was sent, not acked: a client may hold a whole window before it acks
   * (one that acks only at the window's edge must not deadlock against the pause). Output still
   * on its way when the pause takes is kept by makeRoom().
   */
  private flow(): void {
    if (this.exit || !this.proc) return;
    const now = Date.now();
    const limit = this.o.ringBytes * (this.paused ? RESUME_AT : PAUSE_AT);
    let until = Infinity; // when the last writer holding it back stalls
    for (const a of this.held(now)) if (this.ring.end - a.sent >= limit) until = Math.min(until, a.lastAck + this.o.stallMs);
    const hold = until !== Infinity;
    if (hold && !this.paused) this.paused = this.proc.pause();
    else if (!hold && this.paused) {
      this.paused = false;
      this.proc.resume();
    }
    clearTimeout(this.stallTimer);
    if (this.paused) this.stallTimer = setTimeout(() => this.flow(), until - now + 1);
    else if (this.ring.capacity > this.o.ringBytes && this.held(now).every((a) => this.ring.end - a.sent <= this.o.ringBytes)) this.resizeRing(this.o.ringBytes);
  }

  /** The clients the program may be paused for: writers that acked within stallMs. */
  private held(now: number): Attachment[] {
    return [...this.clients].filter((a) => a.writable && !a.done && now - a.lastAck < this.o.stallMs);
  }

  /**
   * The pause is not instant: what the program wrote before the kernel acted on XOFF (megabytes,
   * on a busy machine) still arrives. The ring grows, up to MAX_GROWTH times its size, rather
   * than drop bytes not yet sent to a writer it is holding the program for; flow() shrinks it
   * back once everyone has caught up.
   */
  private makeRoom(n: number): void {
    const oldest = Math.min(this.ring.end, ...this.held(Date.now()).map((a) => a.sent));
    const need = this.ring.end + n - oldest;
    if (need > this.ring.capacity) this.resizeRing(Math.min(Math.max(need, this.ring.capacity * 2), this.o.ringBytes * MAX_GROWTH));
  }

  /** The buffer it replaces is garbage at once: ask the collector now, so growth steps do not add up in memory. */
  private resizeRing(capacity: number): void {
    this.ring.resize(capacity);
    Bun.gc(false);
  }

  private exited(e: PtyExit): void {
    this.exit = e;
    clearTimeout(this.stallTimer);
    clearTimeout(this.killTimer);
    clearTimeout(this.idleTimer);
    for (const a of [...this.clients]) this.pump(a);
    this.o.onChange?.(this.orgId);
    setTimeout(() => this.o.onGone(this.id), EXITED_GRACE_MS).unref();
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.exit || this.clients.size > 0) return;
    this.idleTimer = setTimeout(() => this.kill(), this.o.idleMs);
    this.idleTimer.unref?.();
  }
}
