// Elysia glue for the resolver: `authenticated(auth)` gives every route registered after it a
// checked `principal` (401 without one), applies the Origin rule to cookie-borne state changes
// and names the user in the access log. Public routes use `optionalPrincipal` explicitly.
import { Elysia } from "elysia";
import type { Server } from "bun";
import { HttpError } from "../http/errors";
import { noteUser } from "../http/access-log";
import { clientIp } from "../http/client-ip";
import type { Events } from "../events";
import type { ServeConfig } from "../config";
import type { Principal } from "./principal";
import type { Resolver, Resolved } from "./resolver";
import type { AuthStore } from "./store";
import type { Jwts } from "./jwt";
import type { Logger } from "../log";
import type { Oidc } from "./oidc";
import { from, type Audit, type Client } from "../audit";

export interface Auth {
  store: AuthStore;
  resolver: Resolver;
  jwts: Jwts;
  config: ServeConfig;
  trustedProxies: Set<string>;
  /** The issuer of the JWTs this server signs (auth/index.ts). */
  issuer: string;
  /** Where auth writes announce what they changed (keys, members, sessions) to live dashboards. */
  events: Events;
  /** Sign-in with an OpenID Connect provider, when configured (--oidc-issuer). */
  oidc?: Oidc;
  log?: Logger;
  /** Where security-relevant acts are recorded (server/audit). */
  audit: Audit;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function requestIp(auth: Auth, request: Request, server: Server<unknown> | null | undefined): string {
  return clientIp(server?.requestIP(request)?.address, request.headers.get("x-forwarded-for"), auth.trustedProxies);
}

/** The client of a request as an audit event names it: its address (behind trusted proxies), agent, request id. */
export const clientOf = (auth: Auth, request: Request, server: Server<unknown> | null | undefined): Client => from(request, requestIp(auth, request, server));

/**
 * CSRF and cross-site WebSocket hijacking (SPEC §2.4 rule 8): a browser sends the cookie with
 * requests any site makes, but it always sends that site's Origin. It must be ours.
 */
export function checkOrigin(auth: Auth, request: Request): void {
  const origin = request.headers.get("origin");
  const expected = auth.config.publicUrl ?? `${new URL(request.url).protocol}//${request.headers.get("host")}`;
  if (origin !== expected) {
    throw new HttpError(403, "origin_mismatch", origin ? `requests from ${origin} may not use this session` : "this request needs an Origin header");
  }
}

/** Resolves a request that may carry no credential; a bad one is still a 401. */
export async function optionalPrincipal(
  auth: Auth,
  request: Request,
  server: Server<unknown> | null | undefined,
  set: { headers: Record<string, unknown> },
): Promise<Resolved | null> {
  const r = await auth.resolver.resolve(request, () => requestIp(auth, request, server));
  if (!r) return null;
  if (r.principal.viaCookie && !SAFE_METHODS.has(request.method)) checkOrigin(auth, request);
  if (r.setCookie) set.headers["set-cookie"] = r.setCookie;
  noteUser(request, r.principal.userId);
  return r;
}

// No plugin name on purpose: Elysia skips a named plugin the second time it is used, and every
// route group that needs a principal must get this. `derive` (not `resolve`) so that it runs
// before body validation: an anonymous caller learns nothing about a route's input rules.
export const authenticated = (auth: Auth) =>
  new Elysia().derive({ as: "scoped" }, async ({ request, server, set }): Promise<{ principal: Principal }> => {
    const r = await optionalPrincipal(auth, request, server, set);
    if (!r) throw new HttpError(401, "unauthorized", "sign in first: send a session cookie or Authorization: Bearer <token>");
    return { principal: r.principal };
  });

/** Rule 10: only a person's own session may mint credentials or manage people. */
export function requireSession(p: Principal): void {
  if (p.method !== "session") throw new HttpError(403, "session_required", "this needs a signed-in session, not an API key or token");
}

/**
 * The resolver for WebSocket upgrades (SPEC §2.4 rules 8, 9): a one-time `?ticket=` (browsers),
 * else the same headers and cookie as any request. A cookie needs our Origin even though an
 * upgrade is a GET: that is what stops cross-site WebSocket hijacking. Throwing here answers the
 * upgrade with a JSON error; the handshake never completes.
 */
export async function upgradePrincipal(auth: Auth, request: Request, server: Server<unknown> | null | undefined): Promise<Principal> {
  const ticket = new URL(request.url).searchParams.get("ticket");
  const ip = () => requestIp(auth, request, server);
  if (ticket !== null) {
    const principal = await auth.resolver.ticket(ticket, ip);
    noteUser(request, principal.userId);
    return principal;
  }
  const r = await auth.resolver.resolve(request, ip);
  if (!r) throw new HttpError(401, "unauthorized", "sign in first: a session cookie, a ticket from POST /api/ws-ticket, or Authorization: Bearer <token>");
  if (r.principal.viaCookie) checkOrigin(auth, request);
  noteUser(request, r.principal.userId);
  return r.principal;
}
