// Every query the host directory makes, written once (server/db/gen.ts writes the Postgres copy).
// Reads take the organizations the caller may see: an unscoped read of another org's host
// cannot be written by accident.
import { and, asc, eq, inArray, sql } from "drizzle-orm";
import { hosts, type Db } from "../db/dialect.sqlite"; // @dialect

export type HostRow = typeof hosts.$inferSelect;

export interface Registration {
  id: string;
  orgId: string;
  name: string;
  version: string;
  platform: string;
  ports: string;
  createdBy: string;
  replica: string;
}

export function makeHostStore(db: Db) {
  return {
    /**
     * Registers a connection: creates the host or takes it over with the next epoch, in one
     * statement, so two connections racing for one name get two different epochs.
     */
    async register(r: Registration, now: Date): Promise<{ id: string; epoch: number }> {
      const [row] = await db.write(async (tx) =>
        tx
          .insert(hosts)
          .values({ ...r, online: true, epoch: 1, createdAt: now, lastSeen: now })
          .onConflictDoUpdate({
            target: [hosts.orgId, hosts.name],
            set: { epoch: sql`${hosts.epoch} + 1`, online: true, replica: r.replica, version: r.version, platform: r.platform, ports: r.ports, lastSeen: now },
          })
          .returning({ id: hosts.id, epoch: hosts.epoch }),
      );
      return row!;
    },

    /** A heartbeat: only the current connection's epoch counts. */
    seen: (id: string, epoch: number, now: Date) =>
      db.write(async (tx) => void (await tx.update(hosts).set({ lastSeen: now }).where(and(eq(hosts.id, id), eq(hosts.epoch, epoch))))),

    /** The connection with this epoch ended; a newer one (higher epoch) is left alone. */
    offline: (id: string, epoch: number, now: Date) =>
      db.write(async (tx) => void (await tx.update(hosts).set({ online: false, lastSeen: now }).where(and(eq(hosts.id, id), eq(hosts.epoch, epoch))))),

    list: async (orgIds: string[]) =>
      orgIds.length === 0 ? [] : await db.orm.select().from(hosts).where(inArray(hosts.orgId, orgIds)).orderBy(asc(hosts.name)),

    /** The host with this id, or with this name in one of the orgs, the first org first. */
    async find(orgIds: string[], idOrName: string): Promise<HostRow | null> {
      if (orgIds.length === 0) return null;
      const [byId] = await db.orm.select().from(hosts).where(and(eq(hosts.id, idOrName), inArray(hosts.orgId, orgIds))).limit(1);
      if (byId) return byId;
      const named = await db.orm.select().from(hosts).where(and(eq(hosts.name, idOrName), inArray(hosts.orgId, orgIds)));
      return named.sort((a, b) => orgIds.indexOf(a.orgId) - orgIds.indexOf(b.orgId))[0] ?? null;
    },
  };
}
