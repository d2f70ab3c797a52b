// GET /api/streams: the streams of the organization a request acts in (the same org the protocol
// routes use: an API key's bound org, a session's X-Warren-Org or active org), a page at a time in
// byte order of path. The query is by that org id, so another org's streams are never in reach.
// Paths are as they appear in stream URLs (percent-encoded as created); `prefix` matches that form.
import { Elysia } from "elysia";
import { z } from "zod";
import { optionalPrincipal, requestOrg, type Auth } from "../auth";
import { HttpError } from "../http/errors";
import { valid } from "../http/json";
import * as offsets from "./offsets";
import type { Streams } from "./service";

export const LIST_DEFAULT = 100;
export const LIST_MAX = 1000;

const limitMessage = `limit is a whole number from 1 to ${LIST_MAX}`;

export const listQuery = z.object({
  prefix: z.string().max(1024, "prefix is at most 1024 characters").default("").describe("only streams whose path starts with this (as in the URL, percent-encoded)"),
  limit: z.coerce
    .number({ error: limitMessage })
    .int(limitMessage)
    .min(1, limitMessage)
    .max(LIST_MAX, limitMessage)
    .default(LIST_DEFAULT)
    .describe(`streams per page (default ${LIST_DEFAULT}, at most ${LIST_MAX})`),
  cursor: z.string().max(4096, "cursor is not one this server gave").optional().describe("the `next` of the previous page"),
});

/** The cursor names the last path of a page; opaque to clients, checked when it comes back. */
const encodeCursor = (path: string) => Buffer.from(path, "utf8").toString("base64url");
function decodeCursor(cursor: string): string {
  const path = Buffer.from(cursor, "base64url").toString("utf8");
  if (!path || encodeCursor(path) !== cursor) throw new HttpError(400, "invalid_request", "cursor: not one this server gave; pass the `next` of the previous page");
  return path;
}

/** One stream as GET /api/streams lists it (the CLI's `stream ls` reads the same type). */
export interface ListedStream {
  path: string;
  contentType: string;
  /** The offset after the last byte: where an append would go, and the stream's length in bytes. */
  bytes: number;
  nextOffset: string;
  closed: boolean;
  createdAt: string;
  ttlSeconds: number | null;
  /** The fixed expiry, or for a TTL stream when it expires if nobody uses it before then. */
  expiresAt: string | null;
}

export function streamListRoute(auth: Auth, streams: Streams) {
  return new Elysia().get("/api/streams", async ({ request, server, set, query }) => {
    const r = await optionalPrincipal(auth, request, server, set);
    if (!r) throw new HttpError(401, "unauthorized", "send an API key (x-api-key or Authorization: Bearer) or a session");
    const orgId = requestOrg(r.principal, request);
    const q = valid(listQuery, query);
    const after = q.cursor === undefined ? "" : decodeCursor(q.cursor);
    const { rows, last } = await streams.list(orgId, q.prefix, after, q.limit);
    return {
      streams: rows.map((row): ListedStream => ({
        path: row.path,
        contentType: row.contentType,
        bytes: row.tail,
        nextOffset: offsets.format(row.tail),
        closed: row.closed,
        createdAt: row.createdAt.toISOString(),
        ttlSeconds: row.ttlSeconds,
        expiresAt: (row.expiresAt ?? (row.ttlSeconds !== null ? new Date(streams.clock.lastAccess(row) + row.ttlSeconds * 1000) : null))?.toISOString() ?? null,
      })),
      next: last === null ? null : encodeCursor(last),
    };
  });
}
