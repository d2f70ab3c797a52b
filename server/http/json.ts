// JSON from peers, bounded before anything looks inside it. JSON.parse itself is linear, but what
// comes after is not: a body 20,000 levels deep cost seconds and hundreds of MB once a validation
// error pretty-printed it. So depth is checked on the raw text first (one pass, no allocation),
// and request bodies are validated here, with messages naming the field and never the value —
// no error path serializes what a client sent.
import type { z } from "zod";
import { HttpError } from "./errors";

/** Deeper than any document Warren's own routes take; a stream's JSON items get the same bound. */
export const MAX_JSON_DEPTH = 64;

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** How deeply `text` nests arrays and objects, stopping as soon as it passes `limit`. */
export function nestingExceeds(text: string, limit = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) inString = true;
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > limit) return true;
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return false;
}

/** Parses a peer's JSON text: 400 when it is not JSON or nests deeper than `limit`. */
export function parseJson(text: string, what = "the request body", limit = MAX_JSON_DEPTH): unknown {
  if (nestingExceeds(text, limit)) throw new HttpError(400, "too_deep", `${what} nests deeper than ${limit} levels`);
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, "invalid_json", `${what} is not valid JSON`);
  }
}

/** JSON.parse for text from a peer that must not throw: null for anything unusable. */
export function tryParseJson(text: string, limit = MAX_JSON_DEPTH): unknown {
  if (nestingExceeds(text, limit)) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * A request body checked against its schema: the parsed value, or 400 naming the first field that
 * is wrong and what it should be (zod's wording says what was expected, never what was sent).
 */
export function valid<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.filter((p) => typeof p === "string" || typeof p === "number").join(".");
  const message = `${field ? `${field}: ` : "request body: "}${issue.message}`;
  throw new HttpError(400, "invalid_request", message.length > 200 ? `${message.slice(0, 197)}...` : message);
}
