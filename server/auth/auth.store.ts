// Every query auth makes, written once (see server/db/gen.ts: the Postgres copy is generated).
// Org-scoped reads take the org id as a parameter; writes go through db.write (one transaction).
import { and, asc, desc, eq, gt, inArray, isNotNull, isNull, lt, ne, sql, type SQL } from "drizzle-orm";
import { apiKeys, members, oidcDeviceGrants, oidcIdentities, oidcStates, organizations, pairingTokens, sessions, settings, signingKeys, users, wsTickets, type Db } from "../db/dialect.sqlite"; // @dialect

export type Role = "owner" | "admin" | "member";

export interface NewSession {
  id: string;
  tokenHash: string;
  client: "browser" | "cli";
  deviceName: string;
  expiresAt: Date;
  /** The provider that signed it in; absent for a pairing. */
  oidcIssuer?: string;
}

export interface NewPairing {
  tokenHash: string;
  userId: string | null;
  invite: { email: string; name: string | null; orgId: string; role: Role } | null;
  uses: number;
  createdBy: string | null;
  expiresAt: Date;
}

/** What the provider vouched for at one OIDC sign-in, and what Warren's settings make of it. */
export interface OidcSignIn {
  issuer: string;
  subject: string;
  /** Lowercased; null when the provider gave none. */
  email: string | null;
  emailVerified: boolean;
  name: string;
  /** The email's domain is one of --oidc-allow-domain. */
  domainAllowed: boolean;
  /** Org slug → role from --oidc-group-map for this user's groups; null without a mapping. */
  mapped: Record<string, Role> | null;
}

/** Linking a signed-in user to a provider account: refused when that account, or this user, is linked elsewhere. */
export type OidcLinkResult = { ok: true } | { ok: false; reason: "subject_taken" | "user_has_other" };

export type OidcAdmission =
  | { ok: true; userId: string; created: boolean; changedOrgs: string[]; unknownOrgs: string[]; keptOwners: string[] }
  | { ok: false; reason: "email_unverified" | "not_invited" | "linked_elsewhere" };

export function makeAuthStore(db: Db) {
  const sessionWith = async (where: SQL) =>
    (await db.orm.select({ session: sessions, user: users }).from(sessions).innerJoin(users, eq(users.id, sessions.userId)).where(where).limit(1))[0] ?? null;

  return {
    userCount: async () => await db.orm.$count(users),

    /** The first start: the owner, their organization and their first pairing token, together. */
    createOwner(o: { userId: string; orgId: string; pairing: NewPairing }, now: Date) {
      return db.write(async (tx) => {
        await tx.insert(users).values({ id: o.userId, email: null, name: "Owner", createdAt: now });
        await tx.insert(organizations).values({ id: o.orgId, slug: "default", name: "Default", createdAt: now });
        await tx.insert(members).values({ orgId: o.orgId, userId: o.userId, role: "owner", createdAt: now });
        await tx.insert(pairingTokens).values(pairingRow({ ...o.pairing, userId: o.userId }, now));
      });
    },

    firstOwner: async () =>
      (
        await db.orm
          .select({ userId: members.userId })
          .from(members)
          .where(eq(members.role, "owner"))
          .orderBy(asc(members.createdAt))
          .limit(1)
      )[0]?.userId ?? null,

    userById: async (id: string) => (await db.orm.select().from(users).where(eq(users.id, id)).limit(1))[0] ?? null,

    userByEmail: async (email: string) => (await db.orm.select().from(users).where(eq(users.email, email)).limit(1))[0] ?? null,

    addPairing: (p: NewPairing, now: Date) => db.write(async (tx) => void (await tx.insert(pairingTokens).values(pairingRow(p, now)))),

    /**
     * Consumes one use of a pairing token and creates the session in the same transaction: of any
     * number of concurrent redemptions of a one-use token exactly one gets a session.
     */
    redeemPairing(tokenHash: string, session: NewSession, now: Date, newUserId: string) {
      return db.write(async (tx) => {
        const [tok] = await tx
          .update(pairingTokens)
          .set({ usesLeft: sql`${pairingTokens.usesLeft} - 1` })
          .where(and(eq(pairingTokens.tokenHash, tokenHash), gt(pairingTokens.usesLeft, 0), gt(pairingTokens.expiresAt, now)))
          .returning();
        if (!tok) return null;
        let userId = tok.userId;
        let activeOrgId = tok.orgId;
        if (!userId && tok.inviteEmail && tok.orgId && tok.role) {
          const [existing] = await tx.select({ id: users.id }).from(users).where(eq(users.email, tok.inviteEmail)).limit(1);
          userId = existing?.id ?? newUserId;
          if (!existing) await tx.insert(users).values({ id: userId, email: tok.inviteEmail, name: tok.inviteName ?? tok.inviteEmail, createdAt: now });
          // An invite never changes the role of someone who is already a member.
          await tx.insert(members).values({ orgId: tok.orgId, userId, role: tok.role, createdAt: now }).onConflictDoNothing();
        }
        if (!userId) return null;
        if (!activeOrgId) {
          const [first] = await tx.select({ orgId: members.orgId }).from(members).where(eq(members.userId, userId)).orderBy(asc(members.createdAt)).limit(1);
          activeOrgId = first?.orgId ?? null;
        }
        await tx.insert(sessions).values({ ...session, userId, activeOrgId, createdAt: now, lastUsedAt: now });
        return { userId, sessionId: session.id, expiresAt: session.expiresAt, joined: tok.inviteEmail ? tok.orgId : null };
      });
    },

    /**
     * Who an OIDC sign-in is, in one transaction: the user linked to (issuer, subject); else, on
     * the first sign-in, a verified email with a pending invitation (one use of it is consumed) or
     * an allowed domain — linked to the user with that email, or a new one — and then the group
     * mapping applied: memberships it grants are added or changed, those it granted before and
     * no longer does are removed, and it never takes the last owner from an organization.
     * Allowed-domain newcomers join the first organization as members when there is no mapping.
     */
    oidcSignIn(s: OidcSignIn, ids: { userId: string; identityId: string }, now: Date): Promise<OidcAdmission> {
      return db.write(async (tx): Promise<OidcAdmission> => {
        const [link] = await tx
          .select({ userId: oidcIdentities.userId })
          .from(oidcIdentities)
          .where(and(eq(oidcIdentities.issuer, s.issuer), eq(oidcIdentities.subject, s.subject)))
          .limit(1);
        let userId = link?.userId;
        let created = false;
        const changed = new Set<string>();
        if (userId) {
          await tx.update(oidcIdentities).set({ lastSignInAt: now }).where(and(eq(oidcIdentities.issuer, s.issuer), eq(oidcIdentities.subject, s.subject)));
        } else {
          if (!s.email || !s.emailVerified) return { ok: false, reason: "email_unverified" };
          const [pending] = await tx
            .select()
            .from(pairingTokens)
            .where(and(eq(pairingTokens.inviteEmail, s.email), isNull(pairingTokens.userId), isNotNull(pairingTokens.orgId), gt(pairingTokens.usesLeft, 0), gt(pairingTokens.expiresAt, now)))
            .orderBy(asc(pairingTokens.createdAt))
            .limit(1);
          const invite = pending
            ? (
                await tx
                  .update(pairingTokens)
                  .set({ usesLeft: sql`${pairingTokens.usesLeft} - 1` })
                  .where(and(eq(pairingTokens.tokenHash, pending.tokenHash), gt(pairingTokens.usesLeft, 0)))
                  .returning()
              )[0]
            : undefined;
          if (!invite && !s.domainAllowed) return { ok: false, reason: "not_invited" };
          const [existing] = await tx.select({ id: users.id }).from(users).where(eq(users.email, s.email)).limit(1);
          if (existing) {
            // That person already signs in with another account at this provider: an email match
            // must not hand their Warren account to a second subject.
            const [other] = await tx
              .select({ id: oidcIdentities.id })
              .from(oidcIdentities)
              .where(and(eq(oidcIdentities.userId, existing.id), eq(oidcIdentities.issuer, s.issuer)))
              .limit(1);
            if (other) return { ok: false, reason: "linked_elsewhere" };
            userId = existing.id;
          } else {
            userId = ids.userId;
            created = true;
            await tx.insert(users).values({ id: userId, email: s.email, name: s.name, createdAt: now });
          }
          await tx.insert(oidcIdentities).values({ id: ids.identityId, issuer: s.issuer, subject: s.subject, userId, email: s.email, createdAt: now, lastSignInAt: now });
          if (invite?.orgId && invite.role) {
            const added = await tx.insert(members).values({ orgId: invite.orgId, userId, role: invite.role, createdAt: now }).onConflictDoNothing().returning();
            if (added.length) changed.add(invite.orgId);
          } else if (!s.mapped) {
            const [first] = await tx.select({ id: organizations.id }).from(organizations).orderBy(asc(organizations.createdAt)).limit(1);
            if (first) {
              const added = await tx.insert(members).values({ orgId: first.id, userId, role: "member", createdAt: now }).onConflictDoNothing().returning();
              if (added.length) changed.add(first.id);
            }
          }
        }
        const unknownOrgs: string[] = [];
        const keptOwners: string[] = [];
        if (s.mapped) {
          const slugs = Object.keys(s.mapped);
          const orgs = slugs.length ? await tx.select({ id: organizations.id, slug: organizations.slug }).from(organizations).where(inArray(organizations.slug, slugs)) : [];
          for (const slug of slugs) if (!orgs.some((o) => o.slug === slug)) unknownOrgs.push(slug);
          const want = new Map(orgs.map((o) => [o.id, s.mapped![o.slug]!]));
          const current = await tx.select().from(members).where(eq(members.userId, userId));
          const lastOwner = async (orgId: string) =>
            (await tx.$count(members, and(eq(members.orgId, orgId), eq(members.role, "owner"), ne(members.userId, userId!)))) === 0;
          for (const m of current) {
            const role = want.get(m.orgId);
            if (role === undefined && m.source !== "oidc") continue;
            if (role === m.role && m.source === "oidc") continue;
            if (m.role === "owner" && role !== "owner" && (await lastOwner(m.orgId))) {
              keptOwners.push(m.orgId);
              continue;
            }
            const here = and(eq(members.orgId, m.orgId), eq(members.userId, userId));
            if (role === undefined) await tx.delete(members).where(here);
            else await tx.update(members).set({ role, source: "oidc" }).where(here);
            changed.add(m.orgId);
          }
          for (const [orgId, role] of want) {
            if (current.some((m) => m.orgId === orgId)) continue;
            await tx.insert(members).values({ orgId, userId, role, createdAt: now, source: "oidc" }).onConflictDoNothing();
            changed.add(orgId);
          }
        }
        return { ok: true, userId, created, changedOrgs: [...changed], unknownOrgs, keptOwners };
      });
    },

    /** A session for a user signed in some other way than a pairing token (OIDC). */
    addSession: (userId: string, session: NewSession, now: Date) =>
      db.write(async (tx) => {
        const [first] = await tx.select({ orgId: members.orgId }).from(members).where(eq(members.userId, userId)).orderBy(asc(members.createdAt)).limit(1);
        await tx.insert(sessions).values({ ...session, userId, activeOrgId: first?.orgId ?? null, createdAt: now, lastUsedAt: now });
      }),

    /**
     * Attaches (issuer, subject) to a user who is already signed in — the owner created on first
     * start, or anyone invited by a pairing link. A subject that signs in someone else stays
     * theirs; a user keeps one account per provider. The provider's email fills in a user's
     * missing one when verified and nobody else has it. Linking the same pair again is a no-op.
     */
    oidcLink(l: { issuer: string; subject: string; userId: string; email: string | null; emailVerified: boolean }, identityId: string, now: Date): Promise<OidcLinkResult> {
      return db.write(async (tx): Promise<OidcLinkResult> => {
        const [bySubject] = await tx
          .select({ userId: oidcIdentities.userId })
          .from(oidcIdentities)
          .where(and(eq(oidcIdentities.issuer, l.issuer), eq(oidcIdentities.subject, l.subject)))
          .limit(1);
        if (bySubject) return bySubject.userId === l.userId ? { ok: true } : { ok: false, reason: "subject_taken" };
        const [mine] = await tx.select({ id: oidcIdentities.id }).from(oidcIdentities).where(and(eq(oidcIdentities.userId, l.userId), eq(oidcIdentities.issuer, l.issuer))).limit(1);
        if (mine) return { ok: false, reason: "user_has_other" };
        await tx.insert(oidcIdentities).values({ id: identityId, issuer: l.issuer, subject: l.subject, userId: l.userId, email: l.email, createdAt: now, lastSignInAt: now });
        if (l.email && l.emailVerified) {
          const [taken] = await tx.select({ id: users.id }).from(users).where(eq(users.email, l.email)).limit(1);
          if (!taken) await tx.update(users).set({ email: l.email }).where(and(eq(users.id, l.userId), isNull(users.email)));
        }
        return { ok: true };
      });
    },

    /** The user's account at this provider, if linked. */
    oidcIdentityOf: async (userId: string, issuer: string) =>
      (
        await db.orm
          .select({ email: oidcIdentities.email, createdAt: oidcIdentities.createdAt })
          .from(oidcIdentities)
          .where(and(eq(oidcIdentities.userId, userId), eq(oidcIdentities.issuer, issuer)))
          .limit(1)
      )[0] ?? null,

    /** Whether a pairing token invites someone (rather than signing in its user); null when unknown. */
    pairingIsInvite: async (tokenHash: string) => {
      const [row] = await db.orm.select({ inviteEmail: pairingTokens.inviteEmail }).from(pairingTokens).where(eq(pairingTokens.tokenHash, tokenHash)).limit(1);
      return row ? row.inviteEmail !== null : null;
    },

    addOidcState: (row: typeof oidcStates.$inferInsert) => db.write(async (tx) => void (await tx.insert(oidcStates).values(row))),

    /** One use: the row is gone once read; null when unknown or expired. */
    takeOidcState: (stateHash: string, now: Date) =>
      db.write(async (tx) => {
        const [row] = await tx.delete(oidcStates).where(eq(oidcStates.stateHash, stateHash)).returning();
        return row && row.expiresAt > now ? row : null;
      }),

    addDeviceGrant: (row: typeof oidcDeviceGrants.$inferInsert) => db.write(async (tx) => void (await tx.insert(oidcDeviceGrants).values(row))),

    /** null when unknown, used or expired. */
    deviceGrant: async (handleHash: string, now: Date) => {
      const [row] = await db.orm.select().from(oidcDeviceGrants).where(eq(oidcDeviceGrants.handleHash, handleHash)).limit(1);
      return row && row.expiresAt > now ? row : null;
    },

    /**
     * Claims the next poll of the provider: false when another poll claimed it first (or the
     * grant is gone), so concurrent polls by one handle ask the provider once.
     */
    claimDevicePoll: (handleHash: string, seen: Date, interval: number, nextPollAt: Date) =>
      db.write(async (tx) =>
        (await tx
          .update(oidcDeviceGrants)
          .set({ interval, nextPollAt })
          .where(and(eq(oidcDeviceGrants.handleHash, handleHash), eq(oidcDeviceGrants.nextPollAt, seen)))
          .returning({ h: oidcDeviceGrants.handleHash })).length > 0,
      ),

    /** One use: gone once the provider has answered for good (approved, denied or expired). */
    takeDeviceGrant: (handleHash: string) =>
      db.write(async (tx) => (await tx.delete(oidcDeviceGrants).where(eq(oidcDeviceGrants.handleHash, handleHash)).returning()).length > 0),

    /** The hot path of every session-authenticated request (the resolver caches it briefly). */
    sessionByHash: (tokenHash: string) => sessionWith(eq(sessions.tokenHash, tokenHash)),

    sessionById: (id: string) => sessionWith(eq(sessions.id, id)),

    /** The organization created on first start: the server's built-in local host belongs to it. */
    firstOrgId: async () => (await db.orm.select({ id: organizations.id }).from(organizations).orderBy(asc(organizations.createdAt)).limit(1))[0]?.id ?? null,

    memberships: async (userId: string) =>
      await db.orm
        .select({ orgId: organizations.id, slug: organizations.slug, name: organizations.name, role: members.role })
        .from(members)
        .innerJoin(organizations, eq(organizations.id, members.orgId))
        .where(eq(members.userId, userId))
        .orderBy(asc(members.createdAt)),

    /** Sliding expiry: called at most once a day per session by the resolver. */
    renewSession: (id: string, now: Date, expiresAt: Date) =>
      db.write(async (tx) => void (await tx.update(sessions).set({ lastUsedAt: now, expiresAt }).where(eq(sessions.id, id)))),

    setActiveOrg: (id: string, orgId: string) =>
      db.write(async (tx) => void (await tx.update(sessions).set({ activeOrgId: orgId }).where(eq(sessions.id, id)))),

    listSessions: async (userId: string) =>
      await db.orm
        .select({
          id: sessions.id,
          client: sessions.client,
          deviceName: sessions.deviceName,
          createdAt: sessions.createdAt,
          lastUsedAt: sessions.lastUsedAt,
          expiresAt: sessions.expiresAt,
        })
        .from(sessions)
        .where(eq(sessions.userId, userId))
        .orderBy(asc(sessions.createdAt)),

    /** Deletes one of the user's own sessions; false when there is no such session of theirs. */
    deleteSession: (id: string, userId: string) =>
      db.write(async (tx) => (await tx.delete(sessions).where(and(eq(sessions.id, id), eq(sessions.userId, userId))).returning({ id: sessions.id })).length > 0),

    addTicket: (tokenHash: string, sessionId: string, expiresAt: Date) =>
      db.write(async (tx) => void (await tx.insert(wsTickets).values({ tokenHash, sessionId, expiresAt }))),

    /** Single use: the row is gone once read. */
    consumeTicket: (tokenHash: string, now: Date) =>
      db.write(async (tx) => {
        const [t] = await tx.delete(wsTickets).where(eq(wsTickets.tokenHash, tokenHash)).returning();
        return t && t.expiresAt > now ? t.sessionId : null;
      }),

    /** Removes what can no longer be used, so tables do not grow without bound. */
    sweep: (now: Date) =>
      db.write(async (tx) => {
        await tx.delete(sessions).where(lt(sessions.expiresAt, now));
        await tx.delete(pairingTokens).where(lt(pairingTokens.expiresAt, now));
        await tx.delete(wsTickets).where(lt(wsTickets.expiresAt, now));
        await tx.delete(oidcStates).where(lt(oidcStates.expiresAt, now));
        await tx.delete(oidcDeviceGrants).where(lt(oidcDeviceGrants.expiresAt, now));
      }),

    // API keys. Every read names the user, so one person's keys are invisible to another.
    addApiKey: (k: { id: string; keyHash: string; prefix: string; name: string; userId: string; orgId: string; expiresAt: Date | null }, now: Date) =>
      db.write(async (tx) => void (await tx.insert(apiKeys).values({ ...k, enabled: true, createdAt: now, lastUsedAt: null }))),

    /** The hot path of key-authenticated requests, with the owner's current role in the bound org. */
    apiKeyByHash: async (keyHash: string) =>
      (
        await db.orm
          .select({ key: apiKeys, user: users, role: members.role, org: organizations })
          .from(apiKeys)
          .innerJoin(users, eq(users.id, apiKeys.userId))
          .innerJoin(organizations, eq(organizations.id, apiKeys.orgId))
          .leftJoin(members, and(eq(members.orgId, apiKeys.orgId), eq(members.userId, apiKeys.userId)))
          .where(eq(apiKeys.keyHash, keyHash))
          .limit(1)
      )[0] ?? null,

    apiKeyById: async (id: string) => (await db.orm.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1))[0] ?? null,

    listApiKeys: async (userId: string) =>
      await db.orm
        .select({
          id: apiKeys.id,
          name: apiKeys.name,
          prefix: apiKeys.prefix,
          organizationId: apiKeys.orgId,
          enabled: apiKeys.enabled,
          createdAt: apiKeys.createdAt,
          lastUsedAt: apiKeys.lastUsedAt,
          expiresAt: apiKeys.expiresAt,
        })
        .from(apiKeys)
        .where(eq(apiKeys.userId, userId))
        .orderBy(asc(apiKeys.createdAt)),

    updateApiKey: (id: string, userId: string, change: { name?: string; enabled?: boolean }) =>
      db.write(async (tx) => (await tx.update(apiKeys).set(change).where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId))).returning({ id: apiKeys.id })).length > 0),

    deleteApiKey: (id: string, userId: string) =>
      db.write(async (tx) => (await tx.delete(apiKeys).where(and(eq(apiKeys.id, id), eq(apiKeys.userId, userId))).returning({ id: apiKeys.id })).length > 0),

    /** At most once a minute per key (the resolver asks only when the stored time is older). */
    touchApiKey: (id: string, now: Date) => db.write(async (tx) => void (await tx.update(apiKeys).set({ lastUsedAt: now }).where(eq(apiKeys.id, id)))),

    /**
     * This installation's id, the same for every replica on the database: the first to ask makes
     * it (`candidate`), a racing one finds it made.
     */
    async installationId(candidate: string): Promise<string> {
      await db.write(async (tx) => void (await tx.insert(settings).values({ key: "installation", value: candidate }).onConflictDoNothing()));
      const [row] = await db.orm.select({ value: settings.value }).from(settings).where(eq(settings.key, "installation"));
      return row!.value;
    },

    // JWT signing keys.
    signingKeys: async () => await db.orm.select().from(signingKeys).orderBy(desc(signingKeys.createdAt)),

    /** Adds a key and retires the ones before it, in one transaction. */
    addSigningKey: (k: { kid: string; publicJwk: string; privateKeyEnc: string }, now: Date) =>
      db.write(async (tx) => {
        await tx.update(signingKeys).set({ retiredAt: now }).where(isNull(signingKeys.retiredAt));
        await tx.insert(signingKeys).values({ ...k, createdAt: now, retiredAt: null });
      }),

    /** Keys retired before `before` can no longer have valid tokens: delete them. */
    dropRetiredSigningKeys: (before: Date) =>
      db.write(async (tx) => void (await tx.delete(signingKeys).where(lt(signingKeys.retiredAt, before)))),

    // Organizations and members. Reads are scoped by the org id the caller was authorized for.
    createOrg: (o: { id: string; slug: string; name: string; ownerId: string }, now: Date) =>
      db.write(async (tx) => {
        const [taken] = await tx.select({ id: organizations.id }).from(organizations).where(eq(organizations.slug, o.slug)).limit(1);
        if (taken) return null;
        await tx.insert(organizations).values({ id: o.id, slug: o.slug, name: o.name, createdAt: now });
        await tx.insert(members).values({ orgId: o.id, userId: o.ownerId, role: "owner", createdAt: now });
        return { id: o.id, slug: o.slug, name: o.name };
      }),

    listMembers: async (orgId: string) =>
      await db.orm
        .select({ userId: users.id, email: users.email, name: users.name, role: members.role, joinedAt: members.createdAt })
        .from(members)
        .innerJoin(users, eq(users.id, members.userId))
        .where(eq(members.orgId, orgId))
        .orderBy(asc(members.createdAt)),

    addMember: (orgId: string, userId: string, role: Role, now: Date) =>
      db.write(async (tx) => (await tx.insert(members).values({ orgId, userId, role, createdAt: now }).onConflictDoNothing().returning()).length > 0),

    /**
     * Changes a role, or removes the member when role is null — unless that would leave the org
     * without an owner. Checked and written in one transaction, so two admins demoting the last
     * two owners at once cannot both succeed.
     */
    changeMember: (orgId: string, userId: string, role: Role | null) =>
      db.write(async (tx) => {
        const [current] = await tx.select().from(members).where(and(eq(members.orgId, orgId), eq(members.userId, userId))).limit(1);
        if (!current) return "not_found" as const;
        if (current.role === "owner" && role !== "owner") {
          const others = await tx.$count(members, and(eq(members.orgId, orgId), eq(members.role, "owner"), ne(members.userId, userId)));
          if (others === 0) return "last_owner" as const;
        }
        if (role === null) await tx.delete(members).where(and(eq(members.orgId, orgId), eq(members.userId, userId)));
        else await tx.update(members).set({ role }).where(and(eq(members.orgId, orgId), eq(members.userId, userId)));
        return "ok" as const;
      }),
  };
}

function pairingRow(p: NewPairing, now: Date) {
  return {
    tokenHash: p.tokenHash,
    userId: p.userId,
    inviteEmail: p.invite?.email ?? null,
    inviteName: p.invite?.name ?? null,
    orgId: p.invite?.orgId ?? null,
    role: p.invite?.role ?? null,
    usesLeft: p.uses,
    createdBy: p.createdBy,
    createdAt: now,
    expiresAt: p.expiresAt,
  };
}
