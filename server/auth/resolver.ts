// The one credential resolver (SPEC §2.4 rule 9): every route and WebSocket upgrade turns its
// request into a principal here, and nowhere else. Checks are cached in-process for at most
// CACHE_MS, which bounds how long another replica may honour a revoked credential (rule 5: 5 s);
// on this process revocations and membership changes drop the cached entries at once.
import { HttpError } from "../http/errors";
import { cookieName, readCookie, setCookie } from "./cookies";
import type { Principal } from "./principal";
import { FailureLimiter } from "./rate-limit";
import { APP_AUDIENCE, type AppClaim, type Jwts } from "./jwt";
import type { AuthStore, Role } from "./store";
import { apiKeyPrefix, hashToken, looksLikeApiKey, looksLikeJwt, looksLikeSessionToken } from "./tokens";
import { authAttempt } from "../metrics";
import { from, type Audit } from "../audit";

export const CACHE_MS = 2_000;
/** lastUsedAt of an API key is written at most this often. */
const TOUCH_MS = 60_000;
export const SESSION_DAYS = 30;
const DAY = 86_400_000;
/** Longer than any credential we issue: anything bigger is garbage, rejected before hashing. */
const MAX_CREDENTIAL = 4096;

export interface Resolved {
  principal: Principal;
  /** A Set-Cookie value when a browser session's expiry slid forward. */
  setCookie?: string;
}

/** What an app cookie grants (server/apps): one user, one app, while the session lasts. */
export interface AppGrant {
  userId: string;
  orgId: string;
  sessionId: string;
  app: AppClaim;
  expiresAt: Date;
}

interface Credential {
  token: string;
  viaCookie: boolean;
}

const unauthorized = (message = "missing or invalid credentials") => new HttpError(401, "unauthorized", message);

export class Resolver {
  private cache = new Map<string, { principal: Principal; until: number }>();
  private apps = new Map<string, { grant: AppGrant; until: number }>();
  readonly limiter = new FailureLimiter();
  /** Records a revoked key used again and rate-limit trips (set once the server has its audit log). */
  audit?: Audit;

  constructor(
    private store: AuthStore,
    /** Whether cookies are Secure and __Host- (the server is reached over https). */
    private secureCookies: boolean,
    private jwts: Jwts,
  ) {}

  /**
   * The principal, or null when the request carries no credential at all. Throws 401 / 429.
   * The client address is asked for only when a failure must be counted (it costs a syscall).
   */
  async resolve(request: Request, clientIp: () => string): Promise<Resolved | null> {
    const cred = this.credential(request);
    if (!cred) return null;
    return this.counted(kindOf(cred), async () => {
      try {
        return await this.check(cred);
      } catch (e) {
        if (!(e instanceof HttpError && e.status === 401)) throw e;
        const ip = clientIp();
        if (looksLikeApiKey(cred.token)) this.audit?.refusals.keyRefused(`sk_live_${apiKeyPrefix(cred.token)}`, from(request, ip));
        this.failed(ip);
        throw e;
      }
    });
  }

  /** Runs a check and counts its outcome by credential kind (metrics: never the credential). */
  private async counted<T>(kind: string, check: () => Promise<T>): Promise<T> {
    try {
      const r = await check();
      authAttempt(kind, "ok");
      return r;
    } catch (e) {
      if (e instanceof HttpError && (e.status === 401 || e.status === 403)) authAttempt(kind, e.status === 401 ? "refused" : "forbidden");
      throw e;
    }
  }

  /** Counts a failure that happened outside resolve() (a bad pairing token); 429 when over. */
  failed(ip: string): void {
    const wait = this.limiter.retryAfter(ip);
    this.limiter.fail(ip);
    if (wait > 0) {
      this.audit?.refusals.tripped(ip);
      throw new HttpError(429, "rate_limited", "too many failed sign-in attempts; try again later", { "retry-after": String(wait) });
    }
  }

  /**
   * A WebSocket ticket (browsers cannot set headers on a WebSocket): single use, 30 s, and only as
   * good as the session that asked for it — revoke the session and its tickets die with it.
   */
  async ticket(ticket: string, clientIp: () => string): Promise<Principal> {
    return this.counted("ticket", () => this.redeemTicket(ticket, clientIp));
  }

  private async redeemTicket(ticket: string, clientIp: () => string): Promise<Principal> {
    const sessionId = ticket.length <= MAX_CREDENTIAL ? await this.store.consumeTicket(hashToken(ticket), new Date()) : null;
    const row = sessionId ? await this.store.sessionById(sessionId) : null;
    if (!row || row.session.expiresAt.getTime() <= Date.now()) {
      this.failed(clientIp());
      throw unauthorized("this WebSocket ticket is invalid, used or expired");
    }
    return (await this.sessionPrincipal(row, { token: "", viaCookie: false }, Date.now())).principal;
  }

  /**
   * Drops cached checks so that a revocation or membership change counts at once here: a
   * session's own, and those of the JWTs minted from it.
   */
  forget(match: { sessionId?: string; userId?: string }): void {
    const source = match.sessionId && `s:${match.sessionId}`;
    for (const [k, v] of this.cache) {
      const p = v.principal;
      if ((match.sessionId && (p.sessionId === match.sessionId || p.source === source)) || (match.userId && p.userId === match.userId)) this.cache.delete(k);
    }
    for (const [k, v] of this.apps) {
      if ((match.sessionId && v.grant.sessionId === match.sessionId) || (match.userId && v.grant.userId === match.userId)) this.apps.delete(k);
    }
  }

  /**
   * A launch code for an app origin (server/apps): single use, 30 s, bound to the origin it was
   * minted for, and only as good as the session that asked for it. Yields that session's principal.
   */
  async appCode(code: string, label: string, clientIp: () => string): Promise<Principal> {
    return this.counted("app-code", () => this.redeemAppCode(code, label, clientIp));
  }

  private async redeemAppCode(code: string, label: string, clientIp: () => string): Promise<Principal> {
    const sessionId = code.length <= MAX_CREDENTIAL ? await this.store.consumeTicket(appCodeHash(code, label), new Date()) : null;
    const row = sessionId ? await this.store.sessionById(sessionId) : null;
    if (!row || row.session.expiresAt.getTime() <= Date.now()) {
      this.failed(clientIp());
      throw unauthorized("this app link is invalid, used or expired; open the app again from the dashboard");
    }
    return (await this.sessionPrincipal(row, { token: "", viaCookie: false }, Date.now())).principal;
  }

  /**
   * An app cookie, on the app origin `label`: a token for exactly this app, its session alive and
   * its user still a member of the app's organization — checked again at least every CACHE_MS,
   * and at once on this process after a revocation.
   */
  async app(token: string, label: string): Promise<AppGrant> {
    return this.counted("app", () => this.appGrant(token, label));
  }

  private async appGrant(token: string, label: string): Promise<AppGrant> {
    if (token.length > MAX_CREDENTIAL) throw unauthorized();
    const hash = hashToken(token);
    const now = Date.now();
    const hit = this.apps.get(hash);
    if (hit && hit.until > now) {
      if (hit.grant.app.label !== label) throw unauthorized();
      return hit.grant;
    }
    const claims = await this.jwts.verify(token, now, APP_AUDIENCE);
    if (!claims?.app || claims.app.label !== label || !claims.src?.startsWith("s:") || !(await this.sourceAlive(claims.src, claims.sub, now))) throw unauthorized();
    const orgId = claims.orgs[0]!;
    if (!(await this.store.memberships(claims.sub)).some((m) => m.orgId === orgId)) {
      throw new HttpError(403, "not_a_member", "you are no longer a member of this app's organization");
    }
    const grant: AppGrant = { userId: claims.sub, orgId, sessionId: claims.src.slice(2), app: claims.app, expiresAt: new Date((claims.exp ?? 0) * 1000) };
    if (this.apps.size > 10_000) this.apps.clear();
    this.apps.set(hash, { grant, until: Math.min(now + CACHE_MS, grant.expiresAt.getTime()) });
    return grant;
  }

  private credential(request: Request): Credential | null {
    const h = request.headers;
    const authorization = h.get("authorization");
    if (authorization !== null) {
      const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
      if (!m) throw unauthorized("the Authorization header must be 'Bearer <token>'");
      return { token: m[1]!, viaCookie: false };
    }
    const apiKey = h.get("x-api-key");
    if (apiKey !== null) return { token: apiKey.trim(), viaCookie: false };
    const cookie = readCookie(h.get("cookie"), cookieName("warren_session", this.secureCookies));
    if (cookie !== undefined) return { token: cookie, viaCookie: true };
    return null;
  }

  private async check(cred: Credential): Promise<Resolved> {
    const t = cred.token;
    if (t.length > MAX_CREDENTIAL) throw unauthorized();
    const hash = hashToken(t);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) {
      return { principal: cred.viaCookie === hit.principal.viaCookie ? hit.principal : { ...hit.principal, viaCookie: cred.viaCookie } };
    }
    // A cookie carries sessions only; keys and JWTs come in headers.
    let resolved: Resolved & { until: number };
    if (looksLikeSessionToken(t)) resolved = await this.session(cred, hash, now);
    else if (cred.viaCookie) throw unauthorized();
    else if (looksLikeApiKey(t)) resolved = await this.apiKey(hash, now);
    else if (looksLikeJwt(t)) resolved = await this.jwt(t, now);
    else throw unauthorized();
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { principal: resolved.principal, until: Math.min(now + CACHE_MS, resolved.until) });
    return resolved;
  }

  private async session(cred: Credential, hash: string, now: number) {
    const row = await this.store.sessionByHash(hash);
    if (!row || row.session.expiresAt.getTime() <= now) throw unauthorized();
    return this.sessionPrincipal(row, cred, now);
  }

  private async sessionPrincipal(row: NonNullable<Awaited<ReturnType<AuthStore["sessionByHash"]>>>, cred: Credential, now: number) {
    let expiresAt = row.session.expiresAt;
    let renewed: string | undefined;
    // Sliding expiry with at most one write a day: renew only once a full day has been used up.
    if (expiresAt.getTime() - now <= (SESSION_DAYS - 1) * DAY) {
      expiresAt = new Date(now + SESSION_DAYS * DAY);
      await this.store.renewSession(row.session.id, new Date(now), expiresAt);
      if (cred.viaCookie) renewed = setCookie("warren_session", this.secureCookies, cred.token, expiresAt);
    }
    const orgs = await this.organizations(row.user.id);
    const orgIds = orgs.map((o) => o.id);
    const principal: Principal = {
      userId: row.user.id,
      user: { id: row.user.id, email: row.user.email, name: row.user.name },
      organizations: orgs,
      orgIds,
      activeOrgId: row.session.activeOrgId && orgIds.includes(row.session.activeOrgId) ? row.session.activeOrgId : (orgIds[0] ?? null),
      method: "session",
      roles: rolesOf(orgs),
      sessionId: row.session.id,
      sessionExpiresAt: expiresAt,
      viaCookie: cred.viaCookie,
    };
    return { principal, setCookie: renewed, until: expiresAt.getTime() };
  }

  /**
   * An API key acts in its bound organization only, and only while its user is a member there:
   * membership is part of the check, so removing the user stops their keys at once (403), and
   * adding them back brings the keys back with no admin step.
   */
  private async apiKey(hash: string, now: number) {
    const row = await this.store.apiKeyByHash(hash);
    if (!row || !row.key.enabled || (row.key.expiresAt && row.key.expiresAt.getTime() <= now)) throw unauthorized();
    if (!row.role) throw new HttpError(403, "not_a_member", "this API key's user is no longer a member of the key's organization");
    if (!row.key.lastUsedAt || now - row.key.lastUsedAt.getTime() > TOUCH_MS) await this.store.touchApiKey(row.key.id, new Date(now));
    const org = { id: row.org.id, slug: row.org.slug, name: row.org.name, role: row.role as Role };
    const principal: Principal = {
      userId: row.user.id,
      user: { id: row.user.id, email: row.user.email, name: row.user.name },
      organizations: [org],
      orgIds: [org.id],
      activeOrgId: org.id,
      method: "api-key",
      roles: rolesOf([org]),
      apiKey: { id: row.key.id, name: row.key.name, prefix: row.key.prefix },
      viaCookie: false,
    };
    return { principal, until: row.key.expiresAt?.getTime() ?? Infinity };
  }

  /** A JWT names its organizations; they still count only while the user is a member of each. */
  private async jwt(token: string, now: number) {
    const claims = await this.jwts.verify(token, now);
    if (!claims) throw unauthorized();
    if (claims.src && !(await this.sourceAlive(claims.src, claims.sub, now))) throw unauthorized("the credential this token was minted from has been revoked");
    const user = await this.store.userById(claims.sub);
    if (!user) throw unauthorized();
    const orgs = (await this.organizations(user.id)).filter((o) => claims.orgs.includes(o.id));
    if (claims.orgs.length > 0 && orgs.length === 0) throw new HttpError(403, "not_a_member", "this token's user is no longer a member of its organization");
    const principal: Principal = {
      userId: user.id,
      user: { id: user.id, email: user.email, name: user.name },
      organizations: orgs,
      orgIds: orgs.map((o) => o.id),
      activeOrgId: orgs[0]?.id ?? null,
      method: "jwt",
      roles: rolesOf(orgs),
      ...(claims.src === undefined ? {} : { source: claims.src }),
      ...(claims.hid === undefined ? {} : { host: { name: claims.hid, expiresAt: new Date((claims.exp ?? 0) * 1000) } }),
      viaCookie: false,
    };
    return { principal, until: (claims.exp ?? 0) * 1000 };
  }

  /** A JWT lives only as long as the session or API key it was minted from. */
  private async sourceAlive(src: string, userId: string, now: number): Promise<boolean> {
    const id = src.slice(2);
    if (src.startsWith("s:")) {
      const row = await this.store.sessionById(id);
      return !!row && row.user.id === userId && row.session.expiresAt.getTime() > now;
    }
    const key = await this.store.apiKeyById(id);
    return !!key && key.userId === userId && key.enabled && !(key.expiresAt && key.expiresAt.getTime() <= now);
  }

  private async organizations(userId: string) {
    return (await this.store.memberships(userId)).map((m) => ({ id: m.orgId, slug: m.slug, name: m.name, role: m.role as Role }));
  }
}

/** What kind of credential a request carries, as the metrics name it: from its shape, never its value. */
function kindOf(cred: Credential): string {
  const t = cred.token;
  return looksLikeSessionToken(t) ? "session" : looksLikeApiKey(t) ? "api-key" : looksLikeJwt(t) ? "jwt" : "malformed";
}

/** Launch codes share the ticket table, but hash with their origin: neither works as the other. */
export const appCodeHash = (code: string, label: string) => hashToken(`${code}\n${label}`);

/**
 * Roles by org id, looked up with ids straight from requests (`roles[header]`): no prototype, so
 * `__proto__` or `constructor` is no one's organization (an X-Warren-Org of either passed once).
 */
function rolesOf(orgs: { id: string; role: Role }[]): Record<string, Role> {
  const roles: Record<string, Role> = Object.create(null);
  for (const o of orgs) roles[o.id] = o.role;
  return roles;
}
