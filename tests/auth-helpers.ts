// Signing in the way people do: the pairing link a fresh server prints, redeemed over HTTP.
import { expect } from "bun:test";
import type { TestServer } from "./harness";

/** Every credential a test obtained, so a test can prove none of them reached a log. */
export const issued: string[] = [];

export function printedPairingToken(s: TestServer): string {
  const m = /\/pair#token=([A-Za-z0-9_-]+)/.exec(s.stdout());
  if (!m) throw new Error(`no pairing link printed:\n${s.stdout()}`);
  issued.push(m[1]!);
  return m[1]!;
}

/**
 * Auth test servers trust 127.0.0.1 as a proxy, and each request names a different client in
 * X-Forwarded-For: tests that make many failures on purpose do not trip the per-address rate
 * limit for each other. The rate-limit tests pin one address instead.
 */
export const AS_PROXY = ["--trusted-proxy", "127.0.0.1"];
let clients = 0;
export const someClient = () => `198.51.100.${(clients++ % 250) + 1}`;

export async function pair(s: TestServer, token: string, client: "cli" | "browser" = "cli", deviceName?: string, from = someClient()): Promise<Response> {
  return fetch(`${s.url}/api/auth/pair`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-forwarded-for": from, ...(client === "browser" ? { origin: s.url } : {}) },
    body: JSON.stringify({ token, client, deviceName }),
  });
}

/** A CLI session token from a pairing token. */
export async function sessionFrom(s: TestServer, pairingToken: string): Promise<string> {
  const r = await pair(s, pairingToken);
  expect(r.status).toBe(200);
  const { sessionToken } = (await r.json()) as { sessionToken: string };
  issued.push(sessionToken);
  return sessionToken;
}

/** The owner's session on a fresh server (redeems the printed link). */
export const ownerSession = (s: TestServer) => sessionFrom(s, printedPairingToken(s));

export function api(s: TestServer, token: string | null, extraHeaders: Record<string, string> = {}) {
  return async (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${s.url}${path}`, {
      method,
      headers: {
        "x-forwarded-for": someClient(),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...extraHeaders,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
}

/** A pairing link minted by `token`'s user (optionally an invite), as its token. */
export async function pairingLink(s: TestServer, token: string, body: Record<string, unknown> = {}): Promise<string> {
  const r = await api(s, token)("POST", "/api/auth/pairing-links", body);
  expect(r.status).toBe(200);
  const j = (await r.json()) as { token: string; url: string };
  expect(j.url).toBe(`${s.url}/pair#token=${j.token}`);
  issued.push(j.token);
  return j.token;
}

export async function json<T = Record<string, unknown>>(r: Response | Promise<Response>): Promise<T> {
  return (await (await r).json()) as T;
}

/**
 * No credential any test handled appears in what these servers printed: the log (stderr) whole,
 * stdout but for the owner's first pairing link, which is printed there on purpose.
 */
export function expectNoCredentialIn(servers: TestServer[], extra: string[] = []): void {
  const everything = servers.map((s) => s.stderr() + s.stdout().replace(/\/pair#token=[A-Za-z0-9_-]+/g, "")).join("\n");
  const secrets = [...issued, ...extra].filter((t) => t.length >= 16);
  expect(secrets.length).toBeGreaterThan(3);
  for (const t of secrets) expect(everything).not.toContain(t);
}
