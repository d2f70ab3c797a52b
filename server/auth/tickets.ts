// One-use WebSocket tickets (SPEC §2.3): browsers cannot set headers on a WebSocket, so a session
// trades its cookie for a ticket that works once, for 30 s, and dies with the session. A replica
// forwarding a ticket-authenticated attach mints a fresh one for the same session (the first was
// spent on the way in). Launch codes for app origins (server/apps) work the same way, each bound
// to the one origin it opens.
import type { Auth } from "./authn";
import { appCodeHash } from "./resolver";
import { hashToken, newTicket } from "./tokens";

export const TICKET_TTL_MS = 30_000;

export async function mintTicket(auth: Auth, sessionId: string): Promise<{ ticket: string; expiresAt: Date }> {
  const ticket = newTicket();
  const expiresAt = new Date(Date.now() + TICKET_TTL_MS);
  await auth.store.addTicket(hashToken(ticket), sessionId, expiresAt);
  return { ticket, expiresAt };
}

/** A one-use code that opens the app origin `label` for this session (server/apps). */
export async function mintAppCode(auth: Auth, sessionId: string, label: string): Promise<string> {
  const code = newTicket();
  await auth.store.addTicket(appCodeHash(code, label), sessionId, new Date(Date.now() + TICKET_TTL_MS));
  return code;
}
