// Every query the subscription manager makes, written once (server/db/gen.ts makes the Postgres
// copy). Rows are read by (org, name) or by id; a wake moves forward only through the
// conditional updates at the bottom, which name the state they expect.
import { and, eq, isNotNull, isNull, lte, or, sql } from "drizzle-orm";
import { streamSubscriptionLinks as links, streamSubscriptions as subs, streams, type Db } from "../../db/dialect.sqlite"; // @dialect

export type SubscriptionRow = typeof subs.$inferSelect;
export type LinkRow = typeof links.$inferSelect;

export function makeSubscriptionStore(db: Db) {
  const byId = async (id: string) => (await db.orm.select().from(subs).where(eq(subs.id, id)).limit(1))[0] ?? null;
  const conditional = async (id: string, expect: { generation: number; wakeId: string | null }, set: Partial<SubscriptionRow>, extra?: ReturnType<typeof and>) =>
    db.write(async (tx) => {
      const where = and(
        eq(subs.id, id),
        eq(subs.generation, expect.generation),
        expect.wakeId === null ? isNull(subs.wakeId) : eq(subs.wakeId, expect.wakeId),
        extra,
      );
      return (await tx.update(subs).set(set).where(where).returning({ id: subs.id })).length > 0;
    });

  return {
    byId,

    find: async (orgId: string, name: string) =>
      (await db.orm.select().from(subs).where(and(eq(subs.orgId, orgId), eq(subs.name, name))).limit(1))[0] ?? null,

    ofOrg: async (orgId: string) => await db.orm.select().from(subs).where(eq(subs.orgId, orgId)),

    /** False when (org, name) is taken. */
    create: (row: SubscriptionRow, initial: LinkRow[]) =>
      db.write(async (tx) => {
        const made = await tx.insert(subs).values(row).onConflictDoNothing().returning({ id: subs.id });
        if (!made.length) return false;
        if (initial.length) await tx.insert(links).values(initial);
        return true;
      }),

    remove: (orgId: string, name: string) => db.write(async (tx) => void (await tx.delete(subs).where(and(eq(subs.orgId, orgId), eq(subs.name, name))))),

    /** Paths and tails of the org's live streams (to link a new pattern subscription at their current ends). */
    orgStreams: async (orgId: string) =>
      await db.orm.select({ path: streams.path, tail: streams.tail }).from(streams).where(and(eq(streams.orgId, orgId), eq(streams.deleted, false))),

    tailOf: async (orgId: string, path: string) =>
      (await db.orm.select({ tail: streams.tail }).from(streams).where(and(eq(streams.orgId, orgId), eq(streams.path, path), eq(streams.deleted, false))).limit(1))[0]?.tail ?? null,

    /** Each link with its stream's tail (null when the stream is gone). */
    links: async (sub: SubscriptionRow) =>
      await db.orm
        .select({ path: links.path, explicit: links.explicit, glob: links.glob, ackedOffset: links.ackedOffset, tail: streams.tail })
        .from(links)
        .leftJoin(streams, and(eq(streams.orgId, sub.orgId), eq(streams.path, links.path), eq(streams.deleted, false)))
        .where(eq(links.subscriptionId, sub.id))
        .orderBy(links.path),

    /** Adds a link (or a link type to one); a new link starts at `acked`. */
    link: (subscriptionId: string, path: string, type: "explicit" | "glob", acked: string) =>
      db.write(async (tx) => {
        await tx
          .insert(links)
          .values({ subscriptionId, path, explicit: type === "explicit", glob: type === "glob", ackedOffset: acked })
          .onConflictDoUpdate({ target: [links.subscriptionId, links.path], set: type === "explicit" ? { explicit: true } : { glob: true } });
      }),

    unlinkExplicit: (subscriptionId: string, path: string) =>
      db.write(async (tx) => {
        await tx.update(links).set({ explicit: false }).where(and(eq(links.subscriptionId, subscriptionId), eq(links.path, path)));
        await tx.delete(links).where(and(eq(links.subscriptionId, subscriptionId), eq(links.path, path), eq(links.explicit, false), eq(links.glob, false)));
      }),

    ack: (subscriptionId: string, acks: { path: string; offset: string }[]) =>
      db.write(async (tx) => {
        for (const a of acks) {
          await tx.update(links).set({ ackedOffset: a.offset }).where(and(eq(links.subscriptionId, subscriptionId), eq(links.path, a.path)));
        }
      }),

    /** Subscriptions with an expired lease or a webhook due to be sent. */
    due: async (now: Date) =>
      await db.orm
        .select()
        .from(subs)
        .where(or(and(isNotNull(subs.leaseUntil), lte(subs.leaseUntil, now)), and(isNotNull(subs.deliverAt), lte(subs.deliverAt, now)))),

    /** Opens a wake when none is outstanding. */
    startWake: (sub: SubscriptionRow, set: Pick<SubscriptionRow, "wakeId" | "snapshot" | "leaseUntil" | "deliverAt">) =>
      conditional(sub.id, { generation: sub.generation, wakeId: null }, { ...set, generation: sub.generation + 1 }, isNull(subs.holder)),

    /** Closes the wake named (done, release, lease expiry). */
    endWake: (sub: SubscriptionRow) =>
      conditional(sub.id, sub, { wakeId: null, snapshot: null, holder: null, leaseUntil: null, deliverAt: null }),

    claim: (sub: SubscriptionRow, holder: string, leaseUntil: Date) => conditional(sub.id, sub, { holder, leaseUntil }, isNull(subs.holder)),

    extendLease: (sub: SubscriptionRow, leaseUntil: Date) => conditional(sub.id, sub, { leaseUntil }),

    /** Takes the next webhook send for this replica, pushing deliverAt past the send's timeout. */
    takeDelivery: (sub: SubscriptionRow, until: Date) =>
      conditional(sub.id, sub, { deliverAt: until }, sub.deliverAt ? eq(subs.deliverAt, sub.deliverAt) : isNull(subs.deliverAt)),

    delivered: (sub: SubscriptionRow, ok: boolean, retryAt: Date | null) =>
      conditional(sub.id, sub, { attempts: ok ? 0 : sql`${subs.attempts} + 1` as unknown as number, deliverAt: retryAt }),
  };
}

export type SubscriptionStore = ReturnType<typeof makeSubscriptionStore>;
