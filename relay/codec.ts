// The relay wire format ("relay.v1", SPEC §4, docs/relay.md) — the one codec, used by the server
// and by the host agent. One WebSocket binary message is one frame: [type u8][streamId u32 BE]
// [payload]. The WebSocket already delimits messages, so frames carry no length field.
// Stream 0 is the connection itself (HELLO, PING/PONG, TOKEN, GOAWAY).
// The caller in an OPEN is who the server resolved: the host never sees a client's credential.
import { z } from "zod";
import type { Caller } from "../pty/host";

export const FRAME = {
  /** Opens a stream; payload = JSON Open. */
  OPEN: 1,
  /** The answer to an OPEN; payload = JSON Head. */
  HEAD: 2,
  /** Stream bytes, at most MAX_DATA of them; they spend the receiver's credit. */
  DATA: 3,
  /** Credit returned by the receiver once its consumer took the bytes; payload = u32. */
  WINDOW: 4,
  /** The sender will send no more DATA on this stream. */
  FIN: 5,
  /** The stream is aborted in both directions; payload = u32 code. */
  RST: 6,
  PING: 7,
  PONG: 8,
  /** The server is going away: reconnect now; payload = JSON {reason}. */
  GOAWAY: 9,
  /** Server → host, first frame on a new connection; payload = JSON Hello. */
  HELLO: 10,
  /** Host → server: a fresh JWT for the connection, before the current one expires. */
  TOKEN: 11,
  /**
   * Host → server: its terminal list changed (for live dashboards); no payload. Sent only to a
   * server whose HELLO says `changes: true` (an older one would take it for a protocol error).
   */
  CHANGED: 12,
} as const;
export type FrameType = (typeof FRAME)[keyof typeof FRAME];

/** Host names: what a person types after --host; "local" is the server's own host. */
export const HOST_NAME = /^(?!local$)[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const HOST_NAME_RULE = 'a host name is 1–63 letters, digits, ".", "_" or "-", starting with a letter or digit, and not "local"';

/** Fairness: no stream holds the socket for longer than one frame of this size. */
export const MAX_DATA = 64 * 1024;
/** The largest frame of any type (a HEAD with a long terminal list); DATA stays within MAX_DATA. */
export const MAX_FRAME = 1024 * 1024;
/** Per-stream credit in each direction. */
export const INITIAL_WINDOW = 1024 * 1024;
export const HEADER = 5;
/**
 * The largest message a stream reassembles (a terminal replay, an app's WebSocket message): what
 * a direct WebSocket to Bun accepts by default. Pieces come back as credit is returned, so
 * without this bound a peer that never marks a message's last piece grows memory for ever.
 */
export const MAX_MESSAGE = 16 * 1024 * 1024;
/** Bytes all streams of one connection may hold in messages not yet complete. */
export const MAX_ASSEMBLING = 64 * 1024 * 1024;

export const RST_CODE = {
  /** The other end is gone or the stream was refused. */
  CANCEL: 1,
  /** The sender exceeded its credit or broke the framing. */
  PROTOCOL: 2,
  /** The connection closed under the stream. */
  CLOSED: 3,
} as const;


export type Open =
  /** A terminal API call (list/get/create/kill) answered by HEAD {status, body}. */
  | { kind: "terminals"; caller: Caller; op: "list" | "get" | "create" | "kill"; tid?: string; body?: unknown }
  /** A terminal attach: term.v1 messages both ways, as Messages (below). */
  | { kind: "attach"; caller: Caller; tid: string; writable: boolean; since?: number; cols?: number; rows?: number }
  /** An HTTP request to an exposed port on the host's loopback; the request body follows as DATA. */
  | { kind: "http"; caller: Caller; port: number; method: string; path: string; headers: [string, string][] }
  /** A WebSocket to an exposed port: HEAD 101 once the host's upstream accepted, then Messages. */
  | { kind: "ws"; caller: Caller; port: number; path: string; headers: [string, string][]; protocols: string[] };

export interface Head {
  status: number;
  /** For "terminals": the JSON answer. */
  body?: unknown;
  headers?: [string, string][];
}

// The shape of a HEAD is checked where it is decoded; what its status, headers and body may be
// depends on the kind of stream, and is checked by whoever opened it.
const headSchema = z.object({
  status: z.number().int().min(100).max(599),
  body: z.unknown().optional(),
  headers: z.array(z.tuple([z.string(), z.string()])).optional(),
});

/** A HEAD payload, or null when it is not one. */
export function head(payload: Uint8Array): Head | null {
  const r = headSchema.safeParse(json(payload));
  return r.success ? (r.data as Head) : null;
}

export interface Hello {
  hostId: string;
  /** The name the host is listed under: the one it asked for, or with a suffix when that was taken. */
  name: string;
  /** The server takes CHANGED frames. */
  changes?: boolean;
  epoch: number;
  pingIntervalMs: number;
  window: number;
}

export interface Frame {
  type: FrameType;
  stream: number;
  payload: Uint8Array;
}

const te = new TextEncoder();
const td = new TextDecoder();

/**
 * `into` lets a sender reuse one buffer for every frame: both WebSocket sends copy the message
 * before returning, and a fresh 64 KiB allocation per frame cost more than the copy itself.
 */
export function encode(type: FrameType, stream: number, payload: Uint8Array = EMPTY, into?: Uint8Array): Uint8Array {
  const out = into && into.length >= HEADER + payload.length ? into.subarray(0, HEADER + payload.length) : new Uint8Array(HEADER + payload.length);
  out[0] = type;
  new DataView(out.buffer, out.byteOffset).setUint32(1, stream);
  out.set(payload, HEADER);
  return out;
}

export const encodeJson = (type: FrameType, stream: number, value: unknown) => encode(type, stream, te.encode(JSON.stringify(value)));

export function encodeU32(type: FrameType, stream: number, n: number): Uint8Array {
  const out = new Uint8Array(HEADER + 4);
  out[0] = type;
  const v = new DataView(out.buffer);
  v.setUint32(1, stream);
  v.setUint32(HEADER, n);
  return out;
}

/** A frame, or null when the bytes are not one (too short or too long, unknown type). */
export function decode(bytes: Uint8Array): Frame | null {
  if (bytes.length < HEADER || bytes.length > HEADER + MAX_FRAME || bytes[0]! < FRAME.OPEN || bytes[0]! > FRAME.CHANGED) return null;
  const stream = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(1);
  return { type: bytes[0] as FrameType, stream, payload: bytes.subarray(HEADER) };
}

export function u32(payload: Uint8Array): number | null {
  return payload.length === 4 ? new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0) : null;
}

export function json<T>(payload: Uint8Array): T | null {
  try {
    return JSON.parse(td.decode(payload)) as T;
  } catch {
    return null;
  }
}

// Messages: streams that carry WebSocket-like traffic (terminal attach) frame each message as
// [flags u8][bytes]: the low bits say text, binary or close (the WebSocket opcodes), 0x80 marks
// the last piece. A message larger than one DATA frame goes in several pieces.
export const MSG = { TEXT: 1, BINARY: 2, CLOSE: 8 } as const;
export type Message = { kind: "text"; text: string } | { kind: "binary"; bytes: Uint8Array } | { kind: "close"; code: number; reason: string };
const LAST = 0x80;

/** The DATA payloads of one message. */
export function messagePieces(m: Message): Uint8Array[] {
  let opcode: number;
  let body: Uint8Array;
  if (m.kind === "text") [opcode, body] = [MSG.TEXT, te.encode(m.text)];
  else if (m.kind === "binary") [opcode, body] = [MSG.BINARY, m.bytes];
  else {
    const reason = te.encode(m.reason.slice(0, 120));
    body = new Uint8Array(2 + reason.length);
    new DataView(body.buffer).setUint16(0, m.code);
    body.set(reason, 2);
    opcode = MSG.CLOSE;
  }
  const room = MAX_DATA - 1;
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < body.length || pieces.length === 0; at += room) {
    const part = body.subarray(at, at + room);
    const piece = new Uint8Array(1 + part.length);
    piece[0] = opcode | (at + room >= body.length ? LAST : 0);
    piece.set(part, 1);
    pieces.push(piece);
  }
  return pieces;
}

/** Reassembles messages from DATA payloads, in order. */
export class MessageReader {
  private parts: Uint8Array[] = [];
  /** Bytes held of the message not yet complete. */
  size = 0;

  constructor(private limit = MAX_MESSAGE) {}

  /** The message this piece completes, null while one is incomplete; throws on garbage. */
  push(piece: Uint8Array): Message | null {
    if (piece.length < 1) throw new Error("empty message piece");
    const opcode = piece[0]! & 0x7f;
    if (this.size + piece.length - 1 > this.limit) throw new Error(`a message larger than ${this.limit} bytes`);
    this.parts.push(piece.subarray(1));
    this.size += piece.length - 1;
    if (!(piece[0]! & LAST)) return null;
    const body = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.drop();
    if (opcode === MSG.TEXT) return { kind: "text", text: td.decode(body) };
    if (opcode === MSG.BINARY) return { kind: "binary", bytes: body };
    if (opcode === MSG.CLOSE && body.length >= 2) {
      return { kind: "close", code: new DataView(body.buffer, body.byteOffset, 2).getUint16(0), reason: td.decode(body.subarray(2)) };
    }
    throw new Error(`unknown message opcode ${opcode}`);
  }

  /** Forgets the message in progress; returns how many bytes that frees. */
  drop(): number {
    const freed = this.size;
    this.parts = [];
    this.size = 0;
    return freed;
  }
}

const EMPTY = new Uint8Array(0);
