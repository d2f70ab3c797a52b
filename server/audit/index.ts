// server/audit: the audit log (issue 17) — who did what, to what, in which organization, from where.
//   Audit                record(event) returns at once; events are written in batches (group
//                        commit); flush(), stop() (the server's stop path: nothing is lost)
//   auditStore(db)       the table's queries (append, page, retention sweep)
//   by(principal), from(request, ip)   an event's actor and client
//   ACTIONS, AuditEvent  what an event is; never a secret
//   startRetention       deletes events older than --audit-retention
//   auditRoutes          GET /api/orgs/:id/audit (owners and admins)
// Whoever does a security-relevant thing records it with one call; this module knows nothing of
// who calls it.
export { Audit } from "./service";
export { auditStore, type AuditStore } from "./store";
export { ACTIONS, by, from, type Actor, type AuditAction, type AuditEvent, type Client, type Target } from "./event";
export type { ShownEvent } from "./row";
export { startRetention } from "./retention";
export { auditQuery, auditRoutes } from "./routes";
