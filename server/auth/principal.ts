// Who is making a request, once the resolver has decided (SPEC §2.1).
import type { Role } from "./store";

export type Method = "session" | "api-key" | "jwt";

export interface Principal {
  userId: string;
  orgIds: string[];
  activeOrgId: string | null;
  method: Method;
  /** The user's role in each of orgIds. */
  roles: Record<string, Role>;
  /** Loaded with the credential, so that "who am I" needs no further query. */
  user: { id: string; email: string | null; name: string };
  organizations: { id: string; slug: string; name: string; role: Role }[];
  /** Set for API-key principals: which key (never the key itself). */
  apiKey?: { id: string; name: string; prefix: string };
  /** Set for session principals: the session presenting the request. */
  sessionId?: string;
  sessionExpiresAt?: Date;
  /** Set for JWTs: the credential the token was minted from ("s:<session id>" or "k:<key id>"). */
  source?: string;
  /** Set for host JWTs: the host this token lets connect to the relay, and until when. */
  host?: { name: string; expiresAt: Date };
  /** The credential came in a cookie: state changes must pass the Origin check. */
  viaCookie: boolean;
}
