// Host JWTs (SPEC §2.3): EdDSA over Ed25519 with jose, `kid` in the header, 15 minutes.
// Signing keys live in the database so every replica signs and verifies alike; the private half
// is sealed with AES-256-GCM under a key derived (HKDF) from the server secret, so a copy of the
// database alone cannot mint tokens.
// Rotation publishes before it signs: a new key is in every replica's JWKS at once (each reloads
// within RELOAD_MS), but signs only once a verifier's cached JWKS must have it too — the publish
// lead, the JWKS cache lifetime plus RELOAD_MS. Until then the previous key signs; after, it
// verifies for one token lifetime more, then it is deleted.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, jwtVerify, SignJWT, type JWK, type JWTPayload } from "jose";
import type { AuthStore } from "./store";
import { newId } from "./tokens";
import { StartupError } from "../datadir";

export const JWT_LIFETIME_S = 15 * 60;
export const AUDIENCE = "warren";
/**
 * App tokens (server/apps) are JWTs for another audience: they open one app on its own origin
 * and are no credential anywhere else — verify() for the API never accepts them.
 */
export const APP_AUDIENCE = "warren-app";
const ALG = "EdDSA";
/**
 * How stale this process's view of the signing keys may get: a rotation (by `warren keys rotate`
 * or another replica) is seen within this time, and an unknown kid reloads no more often.
 */
const RELOAD_MS = 5_000;
/** How long a verifier may cache our JWKS by default (`warren serve --jwks-max-age`). */
export const JWKS_MAX_AGE_MS = 60_000;
/** How long a new key is published before it signs, for a JWKS cache lifetime. */
export const publishLead = (jwksMaxAgeMs: number) => jwksMaxAgeMs + RELOAD_MS;

export interface Claims {
  sub: string;
  orgs: string[];
  /** Set on host JWTs (`GET /api/auth/token?host=<name>`): the host name, in exactly one org. */
  hid?: string;
  /**
   * The credential the token was minted from ("k:<api key id>" or "s:<session id>"): revoking it
   * ends the token too, within the resolver's cache time (SPEC §2.4 rule 5), not at its expiry.
   */
  src?: string;
  /** Set on app tokens only: the one app (origin label, host id, port) the token opens. */
  app?: AppClaim;
  /** Seconds since the epoch (set on verified tokens). */
  exp?: number;
}

export interface AppClaim {
  label: string;
  hostId: string;
  port: number;
}

interface LoadedKey {
  kid: string;
  publicJwk: JWK;
  verify: CryptoKey;
  sign?: CryptoKey;
  createdAt: Date;
  /** When a newer key was added; it signs on for the publish lead, then verifies for a lifetime. */
  retiredAt: Date | null;
}

export class Jwts {
  private keys: LoadedKey[] = [];
  private loadedAt = 0;
  private sealKey: Buffer;

  constructor(
    private store: AuthStore,
    secret: Buffer,
    /** The issuer these tokens name, and the issuers whose tokens verify here. */
    private issuer: { sign: string; accept: string[] },
    /** How long tokens this process signs last; at most JWT_LIFETIME_S, which bounds key retirement. */
    private lifetimeS = JWT_LIFETIME_S,
    /** How long a new key is published before it signs (publishLead of the JWKS cache lifetime). */
    private leadMs = publishLead(JWKS_MAX_AGE_MS),
  ) {
    this.sealKey = Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), "warren jwt signing keys v1", 32));
  }

  /** Makes sure a signing key exists (first start), and loads the keys. */
  async init(): Promise<void> {
    await this.load();
    if (!this.keys.some((k) => !k.retiredAt)) await this.rotate();
    // Replicas share one secret; one with another could verify but never sign, and would answer
    // every token request with an error. Better not to start at all, and say why.
    if (!this.keys.find((k) => !k.retiredAt)?.sign) {
      throw new StartupError(
        "refusing to start: the database's JWT signing key was sealed with another server secret. Every server on one " +
          "database needs the same secret file: copy <data dir>/secret from the server that first started on it",
      );
    }
  }

  /** Adds a new key: published at once, it signs after the lead; the one before verifies a lifetime more. */
  async rotate(now = new Date()): Promise<string> {
    const { publicKey, privateKey } = await generateKeyPair(ALG, { crv: "Ed25519", extractable: true });
    const kid = newId("kid");
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ALG, use: "sig" };
    await this.store.addSigningKey({ kid, publicJwk: JSON.stringify(publicJwk), privateKeyEnc: this.seal(await exportPKCS8(privateKey)) }, now);
    await this.store.dropRetiredSigningKeys(new Date(now.getTime() - this.leadMs - JWT_LIFETIME_S * 1000));
    await this.load();
    return kid;
  }

  async sign(claims: Claims, now = Date.now(), audience = AUDIENCE): Promise<{ token: string; expiresAt: Date }> {
    if (now - this.loadedAt > RELOAD_MS) await this.load();
    const key = this.signer(now);
    if (!key?.sign) throw new Error("no signing key: the database has none this server can decrypt");
    const iat = Math.floor(now / 1000);
    const body: Record<string, unknown> = { orgs: claims.orgs };
    if (claims.hid !== undefined) body.hid = claims.hid;
    if (claims.src !== undefined) body.src = claims.src;
    if (claims.app !== undefined) body.app = claims.app;
    const token = await new SignJWT(body)
      .setProtectedHeader({ alg: ALG, kid: key.kid, typ: "JWT" })
      .setSubject(claims.sub)
      .setIssuer(this.issuer.sign)
      .setAudience(audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.lifetimeS)
      .sign(key.sign);
    return { token, expiresAt: new Date((iat + this.lifetimeS) * 1000) };
  }

  /** The claims of a valid token for `audience`, or null — for any reason, never an exception. */
  async verify(token: string, now = Date.now(), audience = AUDIENCE): Promise<Claims | null> {
    try {
      const { payload } = await jwtVerify(token, (header) => this.keyFor(header.kid, now), {
        algorithms: [ALG],
        issuer: this.issuer.accept,
        audience,
        requiredClaims: ["sub", "exp", "iat"],
        currentDate: new Date(now),
      });
      const claims = claimsOf(payload);
      // Each audience's tokens carry exactly their own claims: no app claim on an API token.
      return claims && (audience === APP_AUDIENCE) === (claims.app !== undefined) ? claims : null;
    } catch {
      return null;
    }
  }

  /** Every key that verifies now or will sign soon: fresh from the database, as on every replica. */
  async jwks(now = Date.now()): Promise<{ keys: JWK[] }> {
    if (now - this.loadedAt > RELOAD_MS) await this.load();
    return { keys: this.keys.filter((k) => this.verifies(k, now)).map((k) => k.publicJwk) };
  }

  /**
   * The key that signs now: the newest one published for the whole lead, else (the first key of
   * a new installation, or a rotation within the lead of another) the oldest there is.
   */
  private signer(now: number): LoadedKey | undefined {
    const ready = this.keys.filter((k) => this.verifies(k, now));
    return ready.find((k) => k.createdAt.getTime() <= now - this.leadMs) ?? ready.at(-1);
  }

  private verifies(k: LoadedKey, now: number): boolean {
    return !k.retiredAt || now <= k.retiredAt.getTime() + this.leadMs + JWT_LIFETIME_S * 1000;
  }

  private async keyFor(kid: string | undefined, now: number): Promise<CryptoKey> {
    if (now - this.loadedAt > RELOAD_MS) await this.load();
    const key = this.keys.find((k) => k.kid === kid);
    if (!key) throw new Error("unknown kid");
    if (!this.verifies(key, now)) throw new Error("retired key");
    return key.verify;
  }

  private async load(): Promise<void> {
    const rows = await this.store.signingKeys();
    this.keys = await Promise.all(
      rows.map(async (r) => {
        const publicJwk = JSON.parse(r.publicJwk) as JWK;
        let sign: CryptoKey | undefined;
        try {
          sign = (await importPKCS8(this.unseal(r.privateKeyEnc), ALG)) as CryptoKey;
        } catch {
          // Sealed under another secret (a replica with a different data dir): verify only.
        }
        return { kid: r.kid, publicJwk, verify: (await importJWK(publicJwk, ALG)) as CryptoKey, sign, createdAt: r.createdAt, retiredAt: r.retiredAt };
      }),
    );
    this.loadedAt = Date.now();
  }

  private seal(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", this.sealKey, iv);
    const body = Buffer.concat([c.update(plain, "utf8"), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]).toString("base64");
  }

  private unseal(sealed: string): string {
    const raw = Buffer.from(sealed, "base64");
    const d = createDecipheriv("aes-256-gcm", this.sealKey, raw.subarray(0, 12));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString("utf8");
  }
}

function claimsOf(p: JWTPayload): Claims | null {
  const orgs = (p as { orgs?: unknown }).orgs;
  const hid = (p as { hid?: unknown }).hid;
  const src = (p as { src?: unknown }).src;
  const app = (p as { app?: { label?: unknown; hostId?: unknown; port?: unknown } }).app;
  if (typeof p.sub !== "string" || !Array.isArray(orgs) || !orgs.every((o) => typeof o === "string")) return null;
  if (hid !== undefined && (typeof hid !== "string" || orgs.length !== 1)) return null;
  if (src !== undefined && (typeof src !== "string" || !/^[ks]:\S+$/.test(src))) return null;
  if (app !== undefined && (typeof app !== "object" || app === null || typeof app.label !== "string" || typeof app.hostId !== "string" || typeof app.port !== "number" || orgs.length !== 1)) return null;
  return {
    sub: p.sub,
    orgs: orgs as string[],
    exp: p.exp,
    ...(hid === undefined ? {} : { hid }),
    ...(src === undefined ? {} : { src }),
    ...(app === undefined ? {} : { app: { label: app.label as string, hostId: app.hostId as string, port: app.port as number } }),
  };
}
