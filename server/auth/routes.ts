// /api/auth/* (SPEC §2.3): who am I, pairing, sign-out, my sessions, pairing links.
import { Elysia } from "elysia";
import { z } from "zod";
import { HttpError } from "../http/errors";
import { valid } from "../http/json";
import { authenticated, checkOrigin, clientOf, optionalPrincipal, requestIp, requireSession, type Auth } from "./authn";
import { by, from } from "../audit";
import { clearedCookie, setCookie } from "./cookies";
import { mintPairing, pairingUrl, PAIRING_TTL_SECONDS } from "./pairing";
import type { Principal } from "./principal";
import { SESSION_DAYS } from "./resolver";
import { HOST_NAME, HOST_NAME_RULE } from "../../relay/codec";
import { hashToken, looksLikePairingToken, newId, newSessionToken } from "./tokens";
import { mintTicket } from "./tickets";
import { roleSchema } from "./orgs";

const DAY = 86_400_000;

export const pairBody = z.object({
  token: z.string().max(600),
  client: z.enum(["browser", "cli"]).default("browser"),
  deviceName: z.string().trim().min(1).max(100).optional(),
});

export const pairingLinkBody = z.object({
  ttlSeconds: z.number().int().min(30).max(7 * 86_400).default(PAIRING_TTL_SECONDS),
  uses: z.number().int().min(1).max(100).default(1),
  invite: z
    .object({
      email: z.string().trim().toLowerCase().email().max(254),
      name: z.string().trim().min(1).max(100).optional(),
      organizationId: z.string().min(1).max(100),
      role: roleSchema,
    })
    .optional(),
});

export const activeOrgBody = z.object({ activeOrganizationId: z.string().min(1).max(100) });

/** Where links point: the public URL, else the address this request reached us by. */
export const baseUrl = (auth: Auth, request: Request) => auth.config.publicUrl ?? `${new URL(request.url).protocol}//${request.headers.get("host")}`;

function describe(p: Principal) {
  return {
    authenticated: true as const,
    user: p.user,
    organizations: p.organizations.filter((o) => p.orgIds.includes(o.id)),
    activeOrganizationId: p.activeOrgId,
    method: p.method,
    ...(p.apiKey ? { apiKey: p.apiKey } : {}),
    expiresAt: p.sessionExpiresAt?.toISOString() ?? null,
  };
}

export const authRoutes = (auth: Auth) =>
  new Elysia()
    // Public: with no credential at all this answers {authenticated:false}, so pages can ask.
    .get("/api/auth/session", async ({ request, server, set }) => {
      const r = await optionalPrincipal(auth, request, server, set);
      return r ? describe(r.principal) : { authenticated: false };
    })
    .post(
      "/api/auth/pair",
      async ({ body: raw, request, server, set }) => {
        const body = valid(pairBody, raw);
        const ip = requestIp(auth, request, server);
        // A browser pairing sets a cookie: a foreign page must not be able to sign a visitor in
        // to an account of the attacker's choosing (login CSRF).
        if (body.client === "browser") checkOrigin(auth, request);
        const invalid = () => new HttpError(401, "invalid_pairing_token", "this pairing link is invalid, used or expired; ask for a new one");
        if (!looksLikePairingToken(body.token)) {
          auth.audit.record({ action: "session.signin_failed", actor: { kind: "anonymous", id: null }, org: null, outcome: "failure", reason: "invalid_pairing_token", client: from(request, ip) });
          auth.resolver.failed(ip);
          throw invalid();
        }
        // Invitations made before --oidc-required was set: the person signs in with the provider
        // instead, as the invited address, which uses up the same invitation. A token's kind never
        // changes, so asking first is no race; the token is left unused.
        if (auth.oidc?.config.required && (await auth.store.pairingIsInvite(hashToken(body.token)))) {
          throw new HttpError(403, "oidc_required", `this server lets new people in only with ${auth.oidc.name}: sign in with ${auth.oidc.name} as the invited email address at ${baseUrl(auth, request)}/pair`);
        }
        const token = newSessionToken();
        const now = new Date();
        const session = await auth.store.redeemPairing(
          hashToken(body.token),
          {
            id: newId("ses"),
            tokenHash: hashToken(token),
            client: body.client,
            deviceName: body.deviceName ?? deviceFrom(request, body.client),
            expiresAt: new Date(now.getTime() + SESSION_DAYS * DAY),
          },
          now,
          newId("usr"),
        );
        if (!session) {
          auth.audit.record({ action: "session.signin_failed", actor: { kind: "anonymous", id: null }, org: null, outcome: "failure", reason: "invalid_pairing_token", client: from(request, ip) });
          auth.resolver.failed(ip);
          throw invalid();
        }
        auth.events.publish({ topic: "sessions", user: session.userId });
        if (session.joined) auth.events.publish({ topic: "members", org: session.joined });
        auth.audit.record({ action: "session.signin", actor: { kind: "user", id: session.userId, user: session.userId }, org: session.joined ?? (await auth.store.memberships(session.userId))[0]?.orgId ?? null, target: { type: "session", id: session.sessionId, label: body.client }, client: from(request, ip) });
        if (session.joined) auth.audit.record({ action: "member.join", actor: { kind: "user", id: session.userId, user: session.userId }, org: session.joined, target: { type: "user", id: session.userId }, client: from(request, ip) });
        if (body.client === "cli") return { sessionToken: token, expiresAt: session.expiresAt.toISOString() };
        set.headers["set-cookie"] = setCookie("warren_session", auth.config.secureCookies, token, session.expiresAt);
        return { authenticated: true, expiresAt: session.expiresAt.toISOString() };
      },
    )
    // Public: verifiers (hosts, other services, a page in a browser) fetch the keys that sign
    // our JWTs. Cached no longer than a new key waits before it signs (jwt.ts).
    .get("/api/auth/jwks", async ({ set }) => {
      set.headers["cache-control"] = `public, max-age=${Math.floor(auth.config.jwksMaxAgeMs / 1000)}`;
      set.headers["access-control-allow-origin"] = "*";
      return auth.jwts.jwks();
    })
    .use(authenticated(auth))
    .get("/api/auth/token", async ({ principal, set, query, request, server }) => {
      // A JWT must not mint its own successor: that would make a 15-minute credential endless.
      if (principal.method === "jwt") throw new HttpError(403, "session_required", "a JWT cannot be exchanged for another; use your session or API key");
      set.headers["cache-control"] = "no-store";
      // A host token (SPEC §4) names the host and exactly one org: the key's, or the session's active one.
      const host = (query as { host?: string }).host;
      if (host !== undefined && !HOST_NAME.test(host)) throw new HttpError(400, "invalid_request", HOST_NAME_RULE);
      if (host !== undefined && !principal.activeOrgId) throw new HttpError(403, "not_a_member", "a host must belong to an organization, and you are in none");
      const src = principal.apiKey ? `k:${principal.apiKey.id}` : `s:${principal.sessionId}`;
      const claims = host === undefined ? { sub: principal.userId, orgs: principal.orgIds, src } : { sub: principal.userId, orgs: [principal.activeOrgId!], hid: host, src };
      const { token, expiresAt } = await auth.jwts.sign(claims);
      if (host !== undefined) auth.audit.record({ action: "jwt.mint", actor: by(principal), org: principal.activeOrgId, target: { type: "host", id: host, label: host }, detail: { expiresAt: expiresAt.toISOString() }, client: clientOf(auth, request, server) });
      return { token, expiresAt: expiresAt.toISOString() };
    })
    .post("/api/ws-ticket", async ({ principal, set }) => {
      requireSession(principal);
      const { ticket, expiresAt } = await mintTicket(auth, principal.sessionId!);
      set.headers["cache-control"] = "no-store";
      return { ticket, expiresAt: expiresAt.toISOString() };
    })
    .post("/api/auth/sign-out", async ({ principal, set, request, server }) => {
      let endSessionUrl: string | null = null;
      if (principal.sessionId) {
        const row = await auth.store.sessionById(principal.sessionId);
        await auth.store.deleteSession(principal.sessionId, principal.userId);
        auth.resolver.forget({ sessionId: principal.sessionId });
        auth.events.publish({ topic: "sessions", user: principal.userId });
        auth.audit.record({ action: "session.signout", actor: by(principal), org: principal.activeOrgId, target: { type: "session", id: principal.sessionId }, client: clientOf(auth, request, server) });
        // A browser signed in by the provider signs out there too (single sign-out), unless the
        // server has since been pointed at another provider.
        if (principal.viaCookie && auth.oidc && row?.session.oidcIssuer === auth.oidc.config.issuer) endSessionUrl = auth.oidc.endSessionUrl(`${baseUrl(auth, request)}/pair`);
      }
      if (principal.viaCookie) set.headers["set-cookie"] = clearedCookie("warren_session", auth.config.secureCookies);
      if (endSessionUrl) return { endSessionUrl };
      set.status = 204;
    })
    .patch(
      "/api/auth/session",
      async ({ principal, body: raw }) => {
        requireSession(principal);
        const body = valid(activeOrgBody, raw);
        if (!principal.roles[body.activeOrganizationId]) throw new HttpError(404, "not_found", "no such organization");
        await auth.store.setActiveOrg(principal.sessionId!, body.activeOrganizationId);
        auth.resolver.forget({ sessionId: principal.sessionId });
        return describe({ ...principal, activeOrgId: body.activeOrganizationId });
      },
    )
    .get("/api/auth/sessions", async ({ principal }) => {
      requireSession(principal);
      const sessions = await auth.store.listSessions(principal.userId);
      return { sessions: sessions.map((s) => ({ ...s, current: s.id === principal.sessionId })) };
    })
    .delete("/api/auth/sessions/:id", async ({ principal, params, set, request, server }) => {
      requireSession(principal);
      if (!(await auth.store.deleteSession(params.id, principal.userId))) throw new HttpError(404, "not_found", "no such session");
      auth.resolver.forget({ sessionId: params.id });
      auth.events.publish({ topic: "sessions", user: principal.userId });
      auth.audit.record({ action: "session.revoke", actor: by(principal), org: principal.activeOrgId, target: { type: "session", id: params.id }, client: clientOf(auth, request, server) });
      set.status = 204;
    })
    .post(
      "/api/auth/pairing-links",
      async ({ principal, body: raw, request, server }) => {
        requireSession(principal);
        const body = valid(pairingLinkBody, raw);
        const invite = body.invite;
        if (invite) {
          const role = principal.roles[invite.organizationId];
          if (!role) throw new HttpError(404, "not_found", "no such organization");
          if (role === "member") throw new HttpError(403, "forbidden", "only owners and admins can invite people");
          if (invite.role === "owner" && role !== "owner") throw new HttpError(403, "forbidden", "only owners can invite owners");
          if (auth.oidc?.config.required) {
            throw new HttpError(
              403,
              "oidc_required",
              `this server lets new people in only with ${auth.oidc.name}: invite them by email instead (POST /api/orgs/${invite.organizationId}/invitations, or Invite on the dashboard), then they sign in with ${auth.oidc.name}`,
            );
          }
        }
        const minted = await mintPairing(auth.store, {
          userId: invite ? null : principal.userId,
          invite: invite ? { email: invite.email, name: invite.name ?? null, orgId: invite.organizationId, role: invite.role } : null,
          uses: body.uses,
          createdBy: principal.userId,
          ttlSeconds: body.ttlSeconds,
        });
        if (invite) auth.audit.record({ action: "member.invite", actor: by(principal), org: invite.organizationId, target: { type: "invite", id: invite.email, label: invite.email }, detail: { role: invite.role, uses: body.uses, ttlSeconds: body.ttlSeconds }, client: clientOf(auth, request, server) });
        return { url: pairingUrl(baseUrl(auth, request), minted.token), token: minted.token, expiresAt: minted.expiresAt.toISOString() };
      },
    );

export function deviceFrom(request: Request, client: string): string {
  const ua = request.headers.get("user-agent") ?? "";
  const browser = /(Firefox|Edg|Chrome|Safari)\/[\d.]+/.exec(ua)?.[1];
  const os = /(Windows|Mac OS X|Linux|Android|iPhone)/.exec(ua)?.[1];
  return [browser ?? (client === "cli" ? "warren CLI" : "browser"), os].filter(Boolean).join(" on ");
}
