// An event as stored (one row) and as shown (the API's JSON, which is also the log line's fields).
import { newId } from "../auth/tokens";
import type { ActorKind, AuditEvent } from "./event";
import type { AuditRow } from "./store";

export function toRow(e: AuditEvent): AuditRow {
  return {
    id: newId("aud"),
    at: e.time ?? new Date(),
    orgId: e.org,
    actorKind: e.actor.kind,
    actorId: e.actor.id,
    actorUser: e.actor.user ?? null,
    action: e.action,
    targetType: e.target?.type ?? null,
    targetId: e.target?.id ?? null,
    targetLabel: e.target?.label ?? null,
    outcome: e.outcome ?? "success",
    reason: e.reason ?? null,
    detail: e.detail ? JSON.stringify(e.detail) : null,
    clientIp: e.client?.ip ?? null,
    userAgent: e.client?.userAgent ?? null,
    requestId: e.client?.requestId ?? null,
  };
}

export interface ShownEvent {
  id: string;
  time: string;
  organizationId: string | null;
  action: string;
  actor: { kind: ActorKind; id: string | null; user: string | null };
  target: { type: string; id: string | null; label: string | null } | null;
  outcome: "success" | "failure";
  reason: string | null;
  detail: Record<string, unknown> | null;
  client: { ip: string | null; userAgent: string | null };
  requestId: string | null;
}

export function shown(r: AuditRow): ShownEvent {
  return {
    id: r.id,
    time: r.at.toISOString(),
    organizationId: r.orgId,
    action: r.action,
    actor: { kind: r.actorKind as ActorKind, id: r.actorId, user: r.actorUser },
    target: r.targetType ? { type: r.targetType, id: r.targetId, label: r.targetLabel } : null,
    outcome: r.outcome as ShownEvent["outcome"],
    reason: r.reason,
    detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : null,
    client: { ip: r.clientIp, userAgent: r.userAgent },
    requestId: r.requestId,
  };
}
