// Sending a webhook: an outbound request to a URL a user chose, so the server's network is
// guarded (SSRF): the host must be on --webhook-allow (default: loopback only, and only on a
// loopback server), no credentials in the URL, no redirects followed, a bounded wait.
export const DELIVERY_TIMEOUT_MS = 10_000;

export function allowedWebhook(raw: string, allow: string[]): URL | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.username || u.password) return null;
  const host = u.hostname.toLowerCase().replace(/^\[|\]$/g, "");
  const port = u.port || (u.protocol === "https:" ? "443" : "80");
  const ok = allow.some((a) => {
    if (a.startsWith("*.")) return host.endsWith(a.slice(1));
    const at = a.lastIndexOf(":");
    // "host:port" (IPv6 literals carry more than one colon and no port in this list).
    if (at > 0 && a.indexOf(":") === at) return a.slice(0, at) === host && a.slice(at + 1) === port;
    return a === host;
  });
  return ok ? u : null;
}

/** POSTs the body; resolves with the receiver's JSON reply (or {}), throws on anything but a 2xx. */
export async function post(url: URL, body: string, signature: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "webhook-signature": signature },
    body,
    redirect: "manual",
    signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
  });
  const text = await res.text();
  if (res.status < 200 || res.status > 299) throw new Error(`webhook answered ${res.status}`);
  try {
    const reply = JSON.parse(text);
    return reply && typeof reply === "object" ? reply : {};
  } catch {
    return {};
  }
}
