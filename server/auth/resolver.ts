// The one credential resolver (SPEC §2.4 rule 9): every route and WebSocket upgrade turns its
// request into a principal here, and nowhere else. Checks are cached in-process for at most
// CACHE_MS, which bounds how long another replica may honour a revoked credential (rule 5: 5 s);
// on this process revocations and membership changes drop the cached entries at once.
import { HttpError } from "../http/errors";
import type { Policy } from "../config";
import { cookieName, readCookie, sessionCookie } from "./cookies";
import type { Principal } from "./principal";
import { FailureLimiter } from "./rate-limit";
import type { AuthStore, Role } from "./store";
import { hashToken, looksLikeSessionToken } from "./tokens";

export const CACHE_MS = 2_000;
export const SESSION_DAYS = 30;
const DAY = 86_400_000;
/** Longer than any credential we issue: anything bigger is garbage, rejected before hashing. */
const MAX_CREDENTIAL = 4096;

export interface Resolved {
  principal: Principal;
  /** A Set-Cookie value when a browser session's expiry slid forward. */
  setCookie?: string;
}

interface Credential {
  token: string;
  viaCookie: boolean;
}

const unauthorized = (message = "missing or invalid credentials") => new HttpError(401, "unauthorized", message);

export class Resolver {
  private cache = new Map<string, { principal: Principal; until: number }>();
  readonly limiter = new FailureLimiter();

  constructor(
    private store: AuthStore,
    private policy: Policy,
  ) {}

  /**
   * The principal, or null when the request carries no credential at all. Throws 401 / 429.
   * The client address is asked for only when a failure must be counted (it costs a syscall).
   */
  async resolve(request: Request, clientIp: () => string): Promise<Resolved | null> {
    const cred = this.credential(request);
    if (!cred) return null;
    try {
      return await this.check(cred);
    } catch (e) {
      if (!(e instanceof HttpError) || e.status !== 401) throw e;
      this.failed(clientIp());
      throw e;
    }
  }

  /** Counts a failure that happened outside resolve() (a bad pairing token); 429 when over. */
  failed(ip: string): void {
    const wait = this.limiter.retryAfter(ip);
    this.limiter.fail(ip);
    if (wait > 0) throw new HttpError(429, "rate_limited", "too many failed sign-in attempts; try again later", { "retry-after": String(wait) });
  }

  /** Drops cached checks so that a revocation or membership change counts at once here. */
  forget(match: { sessionId?: string; userId?: string }): void {
    for (const [k, v] of this.cache) {
      if ((match.sessionId && v.principal.sessionId === match.sessionId) || (match.userId && v.principal.userId === match.userId)) this.cache.delete(k);
    }
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
    const cookie = readCookie(h.get("cookie"), cookieName(this.policy));
    if (cookie !== undefined) return { token: cookie, viaCookie: true };
    return null;
  }

  private async check(cred: Credential): Promise<Resolved> {
    if (cred.token.length > MAX_CREDENTIAL || !looksLikeSessionToken(cred.token)) throw unauthorized();
    const hash = hashToken(cred.token);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now && hit.principal.sessionExpiresAt!.getTime() > now) {
      return { principal: cred.viaCookie === hit.principal.viaCookie ? hit.principal : { ...hit.principal, viaCookie: cred.viaCookie } };
    }
    const row = await this.store.sessionByHash(hash);
    if (!row || row.session.expiresAt.getTime() <= now) throw unauthorized();
    let expiresAt = row.session.expiresAt;
    let setCookie: string | undefined;
    // Sliding expiry with at most one write a day: renew only once a full day has been used up.
    if (expiresAt.getTime() - now <= (SESSION_DAYS - 1) * DAY) {
      expiresAt = new Date(now + SESSION_DAYS * DAY);
      await this.store.renewSession(row.session.id, new Date(now), expiresAt);
      if (cred.viaCookie) setCookie = sessionCookie(this.policy, cred.token, expiresAt);
    }
    const memberships = await this.store.memberships(row.user.id);
    const roles: Record<string, Role> = {};
    for (const m of memberships) roles[m.orgId] = m.role as Role;
    const orgIds = memberships.map((m) => m.orgId);
    const principal: Principal = {
      userId: row.user.id,
      user: { id: row.user.id, email: row.user.email, name: row.user.name },
      organizations: memberships.map((m) => ({ id: m.orgId, slug: m.slug, name: m.name, role: m.role as Role })),
      orgIds,
      activeOrgId: row.session.activeOrgId && roles[row.session.activeOrgId] ? row.session.activeOrgId : (orgIds[0] ?? null),
      method: "session",
      roles,
      sessionId: row.session.id,
      sessionExpiresAt: expiresAt,
      viaCookie: cred.viaCookie,
    };
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { principal, until: now + CACHE_MS });
    return { principal, setCookie };
  }
}
