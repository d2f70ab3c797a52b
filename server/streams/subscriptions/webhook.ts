// Sending a webhook: an outbound request to a URL a user chose, so the server's network is
// guarded (SSRF): the host must be on --webhook-allow (default: loopback only, and only on a
// loopback server), no credentials in the URL, no redirects followed, a bounded wait and a
// bounded reply.
import { tryParseJson } from "../../http/json";

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
  if (res.status < 200 || res.status > 299) {
    await res.body?.cancel();
    throw new Error(`webhook answered ${res.status}`);
  }
  const reply = tryParseJson(await boundedText(res, MAX_REPLY_BYTES));
  return reply && typeof reply === "object" && !Array.isArray(reply) ? (reply as Record<string, unknown>) : {};
}

/** A receiver's reply is small JSON; more than this is not read (and not an answer). */
const MAX_REPLY_BYTES = 64 * 1024;

async function boundedText(res: Response, limit: number): Promise<string> {
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) {
      await res.body.cancel().catch(() => {});
      return "";
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}
