// GET /api/orgs/:id/audit: an organization's audit log, newest first, for its owners and admins
// (members 403; another organization 404, like every org route). Filters by actor, action (or a
// family: `member.*`), target and time; a page at a time (`?cursor=` from the last `nextCursor`).
import { Elysia } from "elysia";
import { z } from "zod";
import { authenticated, requireAdmin, type Auth } from "../auth";
import { HttpError } from "../http/errors";
import { valid } from "../http/json";
import { shown } from "./row";
import type { Position } from "./store";

const time = (what: string) =>
  z
    .string()
    .max(40)
    .refine((v) => !Number.isNaN(Date.parse(v)), `${what} must be an ISO 8601 time, like 2026-01-31T09:00:00Z`)
    .transform((v) => new Date(v));

export const auditQuery = z.object({
  actor: z.string().max(200).optional().describe("a user, API key or host id: what it did, or its person did through a key or host"),
  action: z.string().regex(/^[a-z_]+(\.[a-z_]+|\.\*)$/, "action is like member.remove, or member.* for a family").optional().describe("an action, or a family of them (member.*)"),
  target: z.string().max(200).optional().describe("a target's id or label (a host's name, an API key's sk_live_ prefix)"),
  since: time("since").optional().describe("events at or after this time (ISO 8601)"),
  until: time("until").optional().describe("events before this time (ISO 8601)"),
  limit: z.coerce.number().int().min(1).max(500).default(100).describe("events per page (at most 500)"),
  cursor: z.string().max(200).optional().describe("the `nextCursor` of the previous page"),
});

/** A cursor names the last event of a page; opaque to clients, checked when it comes back. */
const encodeCursor = (p: Position) => Buffer.from(`${p.at.getTime()} ${p.id}`).toString("base64url");

function decodeCursor(cursor: string): Position {
  const m = /^(\d{1,15}) (aud_[A-Za-z0-9_-]{1,64})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!m) throw new HttpError(400, "invalid_request", "cursor: not one this server gave; pass the `nextCursor` of the previous page");
  return { at: new Date(Number(m[1])), id: m[2]! };
}

export const auditRoutes = (auth: Auth) =>
  new Elysia().use(authenticated(auth)).get("/api/orgs/:id/audit", async ({ principal, params, query }) => {
    requireAdmin(principal, params.id, "the audit log");
    const q = valid(auditQuery, query);
    // What this replica recorded a moment ago is in the answer.
    await auth.audit.flush();
    const rows = await auth.audit.store.page(params.id, q, q.cursor ? decodeCursor(q.cursor) : null, q.limit + 1);
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    return { events: page.map(shown), nextCursor: rows.length > q.limit && last ? encodeCursor(last) : null };
  });
