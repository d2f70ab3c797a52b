// Every query the audit log makes, written once (server/db/gen.ts writes the Postgres copy). The
// app appends and reads; the only delete is the retention sweep's.
import { and, desc, eq, gte, inArray, lt, or, sql, type SQL } from "drizzle-orm";
import { auditEvents, type Db } from "../db/dialect.sqlite"; // @dialect

export type AuditRow = typeof auditEvents.$inferSelect;

export interface AuditFilter {
  /** A user, key or host id: events it did, or that the person behind it did through a key or host. */
  actor?: string;
  /** An action (`member.remove`), or a family of them (`member.*`). */
  action?: string;
  /** A target's id or label (a host's name, a key's prefix). */
  target?: string;
  since?: Date;
  until?: Date;
}

/** Where a page ended: the last event's time and id (events are listed newest first). */
export interface Position {
  at: Date;
  id: string;
}

export function makeAuditStore(db: Db) {
  return {
    /** One transaction for a whole batch: many events, one commit (group commit). */
    append: (rows: AuditRow[]) => db.write(async (tx) => void (await tx.insert(auditEvents).values(rows))),

    /** A page of one organization's events, newest first, after `from` (the previous page's last). */
    async page(orgId: string, f: AuditFilter, from: Position | null, limit: number): Promise<AuditRow[]> {
      const where: (SQL | undefined)[] = [eq(auditEvents.orgId, orgId)];
      if (f.actor) where.push(or(eq(auditEvents.actorId, f.actor), eq(auditEvents.actorUser, f.actor)));
      if (f.action?.endsWith(".*")) {
        const family = f.action.slice(0, -1);
        where.push(sql`substr(${auditEvents.action}, 1, ${family.length}) = ${family}`);
      } else if (f.action) where.push(eq(auditEvents.action, f.action));
      if (f.target) where.push(or(eq(auditEvents.targetId, f.target), eq(auditEvents.targetLabel, f.target)));
      if (f.since) where.push(gte(auditEvents.at, f.since));
      if (f.until) where.push(lt(auditEvents.at, f.until));
      if (from) where.push(or(lt(auditEvents.at, from.at), and(eq(auditEvents.at, from.at), lt(auditEvents.id, from.id))));
      return db.orm.select().from(auditEvents).where(and(...where)).orderBy(desc(auditEvents.at), desc(auditEvents.id)).limit(limit);
    },

    /** The last revoke, disable or enable recorded for the key people know by `label`, if any. */
    async lastKeyChange(label: string): Promise<AuditRow | null> {
      const [row] = await db.orm
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.targetLabel, label), eq(auditEvents.targetType, "apikey"), inArray(auditEvents.action, ["apikey.revoke", "apikey.disable", "apikey.enable"])))
        .orderBy(desc(auditEvents.at))
        .limit(1);
      return row ?? null;
    },

    /** Retention: deletes up to `limit` events older than `cutoff`; how many it deleted. */
    sweep: async (cutoff: Date, limit: number): Promise<number> =>
      db.write(async (tx) => {
        const old = tx.select({ id: auditEvents.id }).from(auditEvents).where(lt(auditEvents.at, cutoff)).limit(limit);
        return (await tx.delete(auditEvents).where(inArray(auditEvents.id, old)).returning({ id: auditEvents.id })).length;
      }),
  };
}
