// What one audit event is (issue 17): who did what to which thing in which organization, how it
// ended, and from where. Never a secret: no field takes a token, key, cookie, pairing code or
// password, and the user agent is cut short (it is free text the client chose).
import type { Principal } from "../auth/principal";
import { requestId } from "../http/access-log";
import { wasForwarded } from "../relay/peer";

export const ACTIONS = [
  "session.signin",
  "session.signin_failed",
  "session.signout",
  "session.revoke",
  /** A signed-in person linked their account to the identity provider (docs/oidc.md). */
  "session.link",
  "apikey.create",
  "apikey.revoke",
  "apikey.disable",
  "apikey.enable",
  "apikey.rename",
  "apikey.used_after_revoke",
  "member.invite",
  "member.add",
  "member.join",
  "member.role_change",
  "member.remove",
  /** The identity provider's groups changed someone's memberships at sign-in (--oidc-group-map). */
  "member.mapped",
  "org.create",
  "jwt.mint",
  "host.connect",
  "host.disconnect",
  "host.remove",
  "host.rename",
  "terminal.create",
  "terminal.attach",
  "terminal.kill",
  "app.open",
  "port.open",
  "ratelimit.trip",
  "config.change",
] as const;
export type AuditAction = (typeof ACTIONS)[number];

/** A person (their session or a JWT from it), an API key, a host, or no one known (a failed sign-in). */
export type ActorKind = "user" | "apikey" | "host" | "anonymous";

export interface Actor {
  kind: ActorKind;
  /** The user, key or host id; null for anonymous. */
  id: string | null;
  /** The person behind a key or host, so that "what did Alice do" finds her keys' acts too. */
  user?: string | null;
}

export interface Target {
  type: string;
  id: string;
  /** What people call it (a host's name, a key's visible prefix, an invitee's email). */
  label?: string | null;
}

/** Where the request came from. */
export interface Client {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  /**
   * Another replica forwarded this request for its client (relay/peer.ts): that replica records
   * the event, with the client's own address, so it is not recorded twice.
   */
  forwarded?: boolean;
}

export interface AuditEvent {
  action: AuditAction;
  actor: Actor;
  /** Null before anyone is known to belong to an organization (a failed sign-in). */
  org: string | null;
  target?: Target | null;
  /** Default success. */
  outcome?: "success" | "failure";
  /** A short code saying why it failed (invalid_pairing_token, revoked, rate_limited). */
  reason?: string | null;
  /** Small facts that belong to the action (the new role, the old name), never a credential. */
  detail?: Record<string, string | number | boolean | null> | null;
  client?: Client | null;
  /** Default now. */
  time?: Date;
}

export const USER_AGENT_MAX = 200;

/** The actor a principal is: its key when it came with one, its host for a host JWT, else the person. */
export function by(p: Principal): Actor {
  if (p.apiKey) return { kind: "apikey", id: p.apiKey.id, user: p.userId };
  if (p.host) return { kind: "host", id: p.host.name, user: p.userId };
  return { kind: "user", id: p.userId, user: p.userId };
}

/** The client of an HTTP request or WebSocket upgrade; `ip` as the auth layer resolved it (trusted proxies). */
export function from(request: Request, ip: string | null): Client {
  return {
    ip,
    userAgent: request.headers.get("user-agent")?.slice(0, USER_AGENT_MAX) ?? null,
    requestId: requestId(request),
    ...(wasForwarded(request) ? { forwarded: true } : {}),
  };
}
