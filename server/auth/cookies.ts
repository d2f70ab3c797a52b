// The browser session cookie (SPEC §2.4 rule 8): HttpOnly, SameSite=Lax, Path=/; under the
// remote policy also Secure with the __Host- prefix, which browsers only accept over HTTPS.
import type { Policy } from "../config";

export const cookieName = (policy: Policy) => (policy === "remote" ? "__Host-warren_session" : "warren_session");

export function sessionCookie(policy: Policy, token: string, expiresAt: Date): string {
  const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
  return `${cookieName(policy)}=${token}; Max-Age=${maxAge}; Path=/; HttpOnly; SameSite=Lax${policy === "remote" ? "; Secure" : ""}`;
}

export const clearedCookie = (policy: Policy) =>
  `${cookieName(policy)}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax${policy === "remote" ? "; Secure" : ""}`;

export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
