// Browser cookies (SPEC §2.4 rule 8): HttpOnly, SameSite=Lax, Path=/, no Domain (this host only).
// Whenever users reach the server over https (its public URL, whatever address it binds — a TLS
// proxy in front of a loopback server too) also Secure with the __Host- prefix, which a browser
// accepts only from that very origin over https: no subdomain (an app origin among them) can set
// or shadow it. Over plain http a Secure cookie would never come back, so it has neither.

/**
 * The session cookie on the main origin; the app cookie on each app's own origin (server/apps);
 * the cookie that binds an OIDC sign-in under way to the browser that started it (oidc-routes.ts).
 */
export type CookieKind = "warren_session" | "warren_app" | "warren_oidc";

export const cookieName = (kind: CookieKind, secure: boolean) => (secure ? `__Host-${kind}` : kind);

export function setCookie(kind: CookieKind, secure: boolean, value: string, expiresAt: Date): string {
  const maxAge = Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000));
  return `${cookieName(kind, secure)}=${value}; Max-Age=${maxAge}; Path=/; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;
}

export const clearedCookie = (kind: CookieKind, secure: boolean) => `${cookieName(kind, secure)}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax${secure ? "; Secure" : ""}`;

export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
