// server/auth: who is asking (SPEC §2).
//   createAuth(db, config)  the auth context: store, the one credential resolver, policy
//   authRoutes, orgRoutes   /api/auth/* and /api/orgs/*
//   authenticated(auth)     an Elysia plugin giving later routes a checked `principal`
//   bootstrapOwner, mintPairing, pairingUrl   first-start owner and pairing links
import type { Db } from "../db";
import type { ServeConfig } from "../config";
import type { Auth } from "./authn";
import { Jwts } from "./jwt";
import { Resolver } from "./resolver";
import { authStore } from "./store";

export { authenticated, optionalPrincipal, requireSession, upgradePrincipal, type Auth } from "./authn";
export { requestOrg } from "./org-scope";
export { mintTicket } from "./tickets";
export { authRoutes } from "./routes";
export { apiKeyRoutes } from "./api-keys";
export { Jwts } from "./jwt";
export { orgRoutes } from "./orgs";
export { bootstrapOwner, mintPairing, pairingUrl, PAIRING_TTL_SECONDS } from "./pairing";
export type { Principal } from "./principal";
export { authStore } from "./store";

/** The auth context; `issuer` is the public URL or, without one, set by the caller once listening. */
export async function createAuth(db: Db, config: ServeConfig, secret: Buffer): Promise<Auth> {
  const store = authStore(db);
  const auth = { store, config, trustedProxies: new Set(config.trustedProxies), issuer: config.publicUrl ?? "" } as Auth;
  auth.jwts = new Jwts(store, secret, () => auth.issuer, Math.round(config.jwtLifetimeMs / 1000));
  await auth.jwts.init();
  auth.resolver = new Resolver(store, config.secureCookies, auth.jwts);
  return auth;
}
