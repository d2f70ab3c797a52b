// The keys of the subscription protocol (Durable Streams §12.9), derived from the server secret
// so that every replica signs and verifies alike with nothing more to store:
//   - an Ed25519 key that signs webhook deliveries (`Webhook-Signature: t=…,kid=…,ed25519=…`,
//     over "<t>.<body>"), published as a JWKS;
//   - an HMAC key for the callback and claim tokens, which carry (org, subscription,
//     generation, expiry) and are checked without a lookup.
import { createHash, createHmac, createPrivateKey, createPublicKey, hkdfSync, sign, timingSafeEqual, type KeyObject } from "node:crypto";

const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
const TOKEN_TTL_S = 3600;

export interface TokenClaims {
  org: string;
  sub: string;
  generation: number;
}

export class SubscriptionKeys {
  private signing: KeyObject;
  private tokenKey: Buffer;
  readonly jwk: { kty: "OKP"; crv: "Ed25519"; x: string; kid: string; use: "sig"; alg: "EdDSA" };

  constructor(secret: Buffer) {
    const seed = Buffer.from(hkdfSync("sha256", secret, "warren", "stream webhook signing key", 32));
    this.signing = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: "der", type: "pkcs8" });
    const x = createPublicKey(this.signing).export({ format: "jwk" }).x!;
    // RFC 7638 thumbprint, with the prefix the protocol's kids carry.
    const kid = "ds_" + createHash("sha256").update(`{"crv":"Ed25519","kty":"OKP","x":"${x}"}`).digest("base64url");
    this.jwk = { kty: "OKP", crv: "Ed25519", x, kid, use: "sig", alg: "EdDSA" };
    this.tokenKey = Buffer.from(hkdfSync("sha256", secret, "warren", "stream subscription tokens", 32));
  }

  signature(body: string, now = Date.now()): string {
    const t = Math.floor(now / 1000);
    const sig = sign(null, Buffer.from(`${t}.${body}`), this.signing).toString("base64url");
    return `t=${t},kid=${this.jwk.kid},ed25519=${sig}`;
  }

  token(c: TokenClaims, now = Date.now()): string {
    const payload = Buffer.from(JSON.stringify({ o: c.org, s: c.sub, g: c.generation, e: Math.floor(now / 1000) + TOKEN_TTL_S })).toString("base64url");
    return `${payload}.${this.mac(payload)}`;
  }

  /** The claims of a token we issued, "expired", or null for anything else. */
  verify(token: string, now = Date.now()): TokenClaims | "expired" | null {
    const [payload, mac, extra] = token.split(".");
    if (!payload || !mac || extra !== undefined) return null;
    const want = Buffer.from(this.mac(payload));
    const got = Buffer.from(mac);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return null;
    try {
      const c = JSON.parse(Buffer.from(payload, "base64url").toString()) as { o: string; s: string; g: number; e: number };
      if (c.e * 1000 < now) return "expired";
      return { org: c.o, sub: c.s, generation: c.g };
    } catch {
      return null;
    }
  }

  private mac(payload: string): string {
    return createHmac("sha256", this.tokenKey).update(payload).digest("base64url");
  }
}
