// The protocol's request headers, read and checked in one place (Durable Streams §5, §13.2):
// everything malformed is a 400 naming the header, before any storage is touched.
import { HttpError } from "../http/errors";
import * as offsets from "./offsets";
import type { Producer } from "./writes";

const COUNT = /^(0|[1-9]\d*)$/;
const DIGITS = /^\d+$/;

const bad = (header: string, why: string) => new HttpError(400, "invalid_header", `${header}: ${why}`);

export const flag = (h: Headers, name: string) => (h.get(name) ?? "").trim().toLowerCase() === "true";

/** A usable Content-Type, or null when absent or not a media type. */
export function contentType(h: Headers): string | null {
  const v = h.get("content-type")?.trim();
  return v && /^[\w.+-]+\/[\w.+-]+/.test(v) ? v : null;
}

export function ttl(h: Headers): { ttlSeconds: number | null; expiresAt: Date | null } {
  const t = h.get("stream-ttl");
  const e = h.get("stream-expires-at");
  if (t !== null && e !== null) throw bad("Stream-TTL", "give Stream-TTL or Stream-Expires-At, not both");
  let ttlSeconds: number | null = null;
  let expiresAt: Date | null = null;
  if (t !== null) {
    if (!COUNT.test(t) || !Number.isSafeInteger(Number(t))) throw bad("Stream-TTL", "a whole number of seconds, like 3600");
    ttlSeconds = Number(t);
  }
  if (e !== null) {
    expiresAt = new Date(e);
    if (Number.isNaN(expiresAt.getTime())) throw bad("Stream-Expires-At", "an RFC 3339 timestamp, like 2030-01-01T00:00:00Z");
  }
  return { ttlSeconds, expiresAt };
}

export function fork(h: Headers, toPath: (ref: string) => string): { from: string; offset: number | null; subOffset: number | null } | null {
  const from = h.get("stream-forked-from");
  const offset = h.get("stream-fork-offset");
  const sub = h.get("stream-fork-sub-offset");
  if (from === null) {
    if (sub !== null) throw bad("Stream-Fork-Sub-Offset", "only with Stream-Forked-From");
    return null;
  }
  let position: number | null = null;
  if (offset !== null) {
    position = offsets.parse(offset);
    if (position === null) throw bad("Stream-Fork-Offset", "not an offset of this server");
  }
  if (sub !== null && (!COUNT.test(sub) || !Number.isSafeInteger(Number(sub)))) throw bad("Stream-Fork-Sub-Offset", "a whole number");
  return { from: toPath(from), offset: position, subOffset: sub === null || sub === "0" ? null : Number(sub) };
}

export function producer(h: Headers): Producer | null {
  const id = h.get("producer-id");
  const epoch = h.get("producer-epoch");
  const seq = h.get("producer-seq");
  if (id === null && epoch === null && seq === null) return null;
  if (id === null || epoch === null || seq === null) throw bad("Producer-Id", "Producer-Id, Producer-Epoch and Producer-Seq go together");
  if (id === "") throw bad("Producer-Id", "must not be empty");
  const int = (name: string, v: string) => {
    if (!DIGITS.test(v) || !Number.isSafeInteger(Number(v))) throw bad(name, "a non-negative integer up to 2^53-1");
    return Number(v);
  };
  return { id, epoch: int("Producer-Epoch", epoch), seq: int("Producer-Seq", seq) };
}

/** ?offset=: the start (-1 or absent), the tail ("now") or a position; exactly one of them. */
export function readOffset(params: URLSearchParams): { raw: string | null; after: number | "now" } {
  const all = params.getAll("offset");
  if (all.length > 1) throw new HttpError(400, "invalid_offset", "give one offset");
  const raw = all[0] ?? null;
  if (raw === null || raw === "-1") return { raw, after: 0 };
  if (raw === "now") return { raw, after: "now" };
  const position = offsets.parse(raw);
  if (position === null) throw new HttpError(400, "invalid_offset", "offset: -1, now, or a Stream-Next-Offset this server gave");
  return { raw, after: position };
}
