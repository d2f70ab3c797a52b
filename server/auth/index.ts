// server/auth: who is asking (SPEC §2).
//   createAuth(db, config)  the auth context: store, the one credential resolver, policy
//   authRoutes, orgRoutes   /api/auth/* and /api/orgs/*
//   Oidc, oidcRoutes        sign-in with an OpenID Connect provider (/api/auth/oidc/*)
//   authenticated(auth)     an Elysia plugin giving later routes a checked `principal`
//   bootstrapOwner, mintPairing, pairingUrl   first-start owner and pairing links
import { randomBytes } from "node:crypto";
import type { Db } from "../db";
import type { ServeConfig } from "../config";
import type { Events } from "../events";
import type { Auth } from "./authn";
import { Jwts, publishLead } from "./jwt";
import { Resolver } from "./resolver";
import { authStore } from "./store";

export { authenticated, optionalPrincipal, requireSession, upgradePrincipal, type Auth } from "./authn";
export { requestOrg } from "./org-scope";
export { mintAppCode, mintTicket } from "./tickets";
export type { AppGrant } from "./resolver";
export { APP_AUDIENCE } from "./jwt";
export { authRoutes } from "./routes";
export { oidcRoutes } from "./oidc-routes";
export { Oidc } from "./oidc";
export { apiKeyRoutes } from "./api-keys";
export { Jwts } from "./jwt";
export { orgRoutes, requireAdmin } from "./orgs";
export { bootstrapOwner, mintPairing, pairingUrl, PAIRING_TTL_SECONDS } from "./pairing";
export type { Principal } from "./principal";
export { authStore } from "./store";

/**
 * The auth context. JWTs name their issuer: the public URL, else this installation (a URN every
 * replica on the database shares, so that each one's tokens verify on all of them — a listen
 * address would differ from replica to replica); tokens naming either verify.
 */
export async function createAuth(db: Db, config: ServeConfig, secret: Buffer, events: Events): Promise<Auth> {
  const store = authStore(db);
  const installation = `urn:warren:${await store.installationId(randomBytes(16).toString("hex"))}`;
  const issuer = config.publicUrl ?? installation;
  const auth = { store, config, trustedProxies: new Set(config.trustedProxies), issuer, events } as Auth;
  auth.jwts = new Jwts(store, secret, { sign: issuer, accept: [...new Set([issuer, installation])] }, Math.round(config.jwtLifetimeMs / 1000), publishLead(config.jwksMaxAgeMs));
  await auth.jwts.init();
  auth.resolver = new Resolver(store, config.secureCookies, auth.jwts);
  return auth;
}
