// server/auth: who is asking (SPEC §2).
//   createAuth(db, config)  the auth context: store, the one credential resolver, policy
//   authRoutes, orgRoutes   /api/auth/* and /api/orgs/*
//   authenticated(auth)     an Elysia plugin giving later routes a checked `principal`
//   bootstrapOwner, mintPairing, pairingUrl   first-start owner and pairing links
import type { Db } from "../db";
import type { ServeConfig } from "../config";
import type { Auth } from "./authn";
import { Resolver } from "./resolver";
import { authStore } from "./store";

export { authenticated, requireSession, type Auth } from "./authn";
export { authRoutes } from "./routes";
export { orgRoutes } from "./orgs";
export { bootstrapOwner, mintPairing, pairingUrl, PAIRING_TTL_SECONDS } from "./pairing";
export type { Principal } from "./principal";
export { authStore } from "./store";

export function createAuth(db: Db, config: ServeConfig): Auth {
  const store = authStore(db);
  return { store, resolver: new Resolver(store, config.policy), config, trustedProxies: new Set(config.trustedProxies) };
}
