// Content types and JSON mode (Durable Streams §9.1). A JSON stream stores each append as its
// values re-serialized, each followed by a comma ("1,{"a":2},"), so that a read is one
// concatenation wrapped in brackets — no parsing on the read path.
import { HttpError } from "../http/errors";
import { nestingExceeds } from "../http/json";

/** Stream items are the users' own documents: deeper than API bodies, still bounded. */
const STREAM_JSON_DEPTH = 512;

export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

export function mediaType(contentType: string | null | undefined): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

export const isJson = (contentType: string) => mediaType(contentType) === "application/json";

/** SSE carries text as is; anything else goes base64 (§5.8). */
export const isText = (contentType: string) => {
  const t = mediaType(contentType);
  return t.startsWith("text/") || t === "application/json";
};

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The stored form of a JSON append; null for `[]`, which only a create may send. */
export function jsonChunk(body: Uint8Array, creating: boolean): Uint8Array | null {
  let value: unknown;
  try {
    const text = decoder.decode(body);
    if (nestingExceeds(text, STREAM_JSON_DEPTH)) throw new HttpError(400, "too_deep", `JSON values in a stream nest at most ${STREAM_JSON_DEPTH} levels deep`);
    value = JSON.parse(text);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, "invalid_json", "this is a JSON stream and the body is not valid JSON");
  }
  const values = Array.isArray(value) ? value : [value];
  if (values.length === 0) {
    if (creating) return null;
    throw new HttpError(400, "empty_array", "an empty JSON array appends nothing; send at least one value");
  }
  let text = "";
  for (const v of values) text += JSON.stringify(v) + ",";
  return encoder.encode(text);
}

/** A JSON read: the stored values, comma-joined, as one array. */
export function jsonArray(parts: Uint8Array[]): Uint8Array {
  let size = 2;
  for (const p of parts) size += p.byteLength;
  const out = new Uint8Array(Math.max(2, size - (parts.length ? 1 : 0)));
  out[0] = 0x5b;
  let at = 1;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  // The last value's trailing comma becomes the closing bracket.
  out[out.length - 1] = 0x5d;
  return out;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  return Buffer.concat(parts);
}
