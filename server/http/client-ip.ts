// The client address used for rate limiting and logs. X-Forwarded-For is believed only when the
// direct peer is one of --trusted-proxy (SPEC §2.4 rule 8): anyone else could write any address.
export function clientIp(peer: string | undefined, forwardedFor: string | null, trusted: Set<string>): string {
  const direct = normalize(peer ?? "unknown");
  if (!forwardedFor || !trusted.has(direct)) return direct;
  // Walk from the nearest hop back: the first address that is not one of our proxies is the client.
  const hops = forwardedFor.split(",").map((h) => normalize(h.trim())).filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) if (!trusted.has(hops[i]!)) return hops[i]!;
  return hops[0] ?? direct;
}

function normalize(address: string): string {
  return address.startsWith("::ffff:") ? address.slice(7) : address;
}
