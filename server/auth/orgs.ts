// /api/orgs (SPEC §2.3): organizations and their members. The org named in the URL is checked
// against the principal's memberships before anything is read: not a member → 404, so another
// organization's existence is not revealed (rule 13); not an owner/admin → 403 for changes.
import { Elysia } from "elysia";
import { z } from "zod";
import { HttpError } from "../http/errors";
import { valid } from "../http/json";
import { authenticated, clientOf, requireSession, type Auth } from "./authn";
import { by, type Client } from "../audit";
import type { Principal } from "./principal";
import type { Role } from "./store";
import { newId } from "./tokens";

export const roleSchema = z.enum(["owner", "admin", "member"]);
export const orgBody = z.object({
  name: z.string().trim().min(1).max(100),
  slug: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$/, "use 1–40 lowercase letters, digits and dashes"),
});

export const newMember = z.object({ userId: z.string().min(1).max(100), role: roleSchema });
export const roleChange = z.object({ role: roleSchema });

function memberRole(p: Principal, orgId: string): Role {
  const role = p.roles[orgId];
  if (role) return role;
  // A key or token is limited to its organization: say so, the same for every other id.
  if (p.method !== "session") throw new HttpError(403, "outside_scope", `this ${p.method === "api-key" ? "API key" : "token"} acts only in organization ${p.orgIds.join(", ") || "(none)"}`);
  throw new HttpError(404, "not_found", "no such organization");
}

/** Owners and admins manage an organization's members and hosts; 403 for members, 404 outside it. */
export function requireAdmin(p: Principal, orgId: string, what: string): Role {
  const role = memberRole(p, orgId);
  if (role === "member") throw new HttpError(403, "forbidden", `only owners and admins can manage ${what}`);
  return role;
}

function requireManager(p: Principal, orgId: string, target?: Role): Role {
  requireSession(p);
  const role = requireAdmin(p, orgId, "members");
  if (target === "owner" && role !== "owner") throw new HttpError(403, "forbidden", "only owners can make or change owners");
  return role;
}

export const orgRoutes = (auth: Auth) =>
  new Elysia()
    .use(authenticated(auth))
    .get("/api/orgs", ({ principal }) => ({ organizations: principal.organizations.filter((o) => principal.orgIds.includes(o.id)) }))
    .post(
      "/api/orgs",
      async ({ principal, body: raw, set, request, server }) => {
        requireSession(principal);
        const body = valid(orgBody, raw);
        const org = await auth.store.createOrg({ id: newId("org"), slug: body.slug, name: body.name, ownerId: principal.userId }, new Date());
        if (!org) throw new HttpError(409, "slug_taken", `an organization with slug "${body.slug}" already exists`);
        auth.resolver.forget({ userId: principal.userId });
        auth.audit.record({ action: "org.create", actor: by(principal), org: org.id, target: { type: "organization", id: org.id, label: org.slug }, client: clientOf(auth, request, server) });
        set.status = 201;
        return { ...org, role: "owner" };
      },
    )
    .get("/api/orgs/:id/members", async ({ principal, params }) => {
      memberRole(principal, params.id);
      return { members: await auth.store.listMembers(params.id) };
    })
    .post(
      "/api/orgs/:id/members",
      async ({ principal, params, body: raw, set, request, server }) => {
        const body = valid(newMember, raw);
        requireManager(principal, params.id, body.role);
        if (!(await auth.store.userById(body.userId))) throw new HttpError(404, "not_found", "no such user");
        if (!(await auth.store.addMember(params.id, body.userId, body.role, new Date()))) {
          throw new HttpError(409, "already_member", "that user is already a member; change their role instead");
        }
        auth.resolver.forget({ userId: body.userId });
        auth.events.publish({ topic: "members", org: params.id });
        auth.audit.record({ action: "member.add", actor: by(principal), org: params.id, target: { type: "user", id: body.userId }, detail: { role: body.role }, client: clientOf(auth, request, server) });
        set.status = 201;
        return { userId: body.userId, role: body.role };
      },
    )
    .patch(
      "/api/orgs/:id/members/:userId",
      async ({ principal, params, body: raw, request, server }) => {
        const body = valid(roleChange, raw);
        const mine = requireManager(principal, params.id, body.role);
        const theirs = (await auth.store.listMembers(params.id)).find((m) => m.userId === params.userId)?.role;
        if (theirs === "owner" && mine !== "owner") throw new HttpError(403, "forbidden", "only owners can make or change owners");
        await change(auth, params.id, params.userId, body.role, principal, clientOf(auth, request, server));
        return { userId: params.userId, role: body.role };
      },
    )
    .delete("/api/orgs/:id/members/:userId", async ({ principal, params, set, request, server }) => {
      const mine = params.userId === principal.userId ? memberRole(principal, params.id) : requireManager(principal, params.id);
      requireSession(principal);
      const theirs = (await auth.store.listMembers(params.id)).find((m) => m.userId === params.userId)?.role;
      if (theirs === "owner" && mine !== "owner") throw new HttpError(403, "forbidden", "only owners can remove owners");
      await change(auth, params.id, params.userId, null, principal, clientOf(auth, request, server));
      set.status = 204;
    });

async function change(auth: Auth, orgId: string, userId: string, role: Role | null, actor: Principal, client: Client) {
  const result = await auth.store.changeMember(orgId, userId, role);
  if (result === "not_found") throw new HttpError(404, "not_found", "no such member");
  if (result === "last_owner") throw new HttpError(409, "last_owner", "an organization needs at least one owner; make someone else owner first");
  auth.resolver.forget({ userId });
  auth.audit.record({ action: role ? "member.role_change" : "member.remove", actor: by(actor), org: orgId, target: { type: "user", id: userId }, detail: role ? { role } : null, client });
  auth.events.publish({ topic: "members", org: orgId });
  // Their own page too: a role or an organization of theirs came or went.
  auth.events.publish({ topic: "members", user: userId });
}
