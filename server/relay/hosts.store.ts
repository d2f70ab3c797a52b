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
  /** The agent's own id, when it sends one (see schema.ts). */
  instance: string | null;
}

/** The name a connecting host gets, or the row of another machine that holds the name it asked for. */
export type Claim = { name: string } | { taken: HostRow | null };

/** How many suffixes (-2, -3, …) a defaulted name tries before giving up. */
const SUFFIXES = 50;

export function makeHostStore(db: Db) {
  return {
    /**
     * Registers a connection: creates the host or takes it over with the next epoch, in one
     * statement, so two connections racing for one name get two different epochs.
     */
    async register(r: Registration, now: Date): Promise<{ id: string; epoch: number; name: string }> {
      const live = { online: true, replica: r.replica, version: r.version, platform: r.platform, ports: r.ports, lastSeen: now, connectedAt: now };
      const [row] = await db.write(async (tx) => {
        // A known agent takes its own row back, whatever it is called now (it may have been renamed).
        if (r.instance) {
          const mine = await tx
            .update(hosts)
            .set({ ...live, epoch: sql`${hosts.epoch} + 1` })
            .where(and(eq(hosts.orgId, r.orgId), eq(hosts.instance, r.instance)))
            .returning({ id: hosts.id, epoch: hosts.epoch, name: hosts.name });
          if (mine.length > 0) return mine;
        }
        return tx
          .insert(hosts)
          .values({ ...r, ...live, epoch: 1, createdAt: now })
          .onConflictDoUpdate({ target: [hosts.orgId, hosts.name], set: { ...live, epoch: sql`${hosts.epoch} + 1`, instance: sql`coalesce(${hosts.instance}, ${r.instance})` } })
          .returning({ id: hosts.id, epoch: hosts.epoch, name: hosts.name });
      });
      return row!;
    },

    /**
     * The name a connecting agent will register under: its own row's name when it has one;
     * else the name it asked for, unless another machine (another instance id) holds it or it is
     * reserved — then a defaulted name tries "-2", "-3"…, and an explicit one is refused.
     * (An agent without an instance id takes a name over, as agents always did.)
     */
    async claim(orgId: string, wanted: string, instance: string | null, auto: boolean, reserved: string[]): Promise<Claim> {
      if (instance) {
        const [mine] = await db.orm.select({ name: hosts.name }).from(hosts).where(and(eq(hosts.orgId, orgId), eq(hosts.instance, instance))).limit(1);
        if (mine) return mine;
      }
      for (let i = 1; i <= SUFFIXES; i++) {
        const name = i === 1 ? wanted : `${wanted.slice(0, 63 - String(i).length - 1)}-${i}`;
        const [row] = await db.orm.select().from(hosts).where(and(eq(hosts.orgId, orgId), eq(hosts.name, name))).limit(1);
        const free = !reserved.includes(name) && (!row || !row.instance || !instance || row.instance === instance);
        if (free) return { name };
        if (!auto) return { taken: row ?? null };
      }
      return { taken: null };
    },

    /** Renames a host within its organization; false when another host already has the name. */
    async rename(orgId: string, id: string, name: string): Promise<boolean> {
      return db.write(async (tx) => {
        const [clash] = await tx.select({ id: hosts.id }).from(hosts).where(and(eq(hosts.orgId, orgId), eq(hosts.name, name))).limit(1);
        if (clash && clash.id !== id) return false;
        await tx.update(hosts).set({ name }).where(and(eq(hosts.orgId, orgId), eq(hosts.id, id)));
        return true;
      });
    },

    /** Removes a host's row (its agent, if connected, was told first). */
    remove: (orgId: string, id: string) => db.write(async (tx) => void (await tx.delete(hosts).where(and(eq(hosts.orgId, orgId), eq(hosts.id, id))))),

    /**
     * A heartbeat: only the current connection's epoch counts. False when no row has this id and
     * epoch any more: the host was removed, or a newer connection (on any replica) took over.
     */
    seen: async (id: string, epoch: number, now: Date): Promise<boolean> =>
      (await db.write(async (tx) => tx.update(hosts).set({ lastSeen: now }).where(and(eq(hosts.id, id), eq(hosts.epoch, epoch))).returning({ id: hosts.id }))).length > 0,

    /** Whether a host row still exists (after a heartbeat found its epoch gone). */
    exists: async (id: string): Promise<boolean> => (await db.orm.select({ id: hosts.id }).from(hosts).where(eq(hosts.id, id)).limit(1)).length > 0,

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
