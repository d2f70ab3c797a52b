// GET /api/server: what this server is. Without a credential only that it is Warren (so a
// client can tell it reached one, not some other web server); to a signed-in caller also its
// version, database, policy, public and app URLs, JWT issuer and clock — what `warren doctor`
// checks a setup against.
import { Elysia } from "elysia";
import pkg from "../package.json" with { type: "json" };
import { optionalPrincipal, type Auth } from "./auth";
import type { Db } from "./db";
import type { Apps } from "./apps";

export const VERSION: string = pkg.version;

export const about = (auth: Auth, db: Db, apps: Apps) =>
  new Elysia().get("/api/server", async ({ request, server, set }) => {
    const r = await optionalPrincipal(auth, request, server, set);
    if (!r) return { service: "warren" };
    return {
      service: "warren",
      version: VERSION,
      bun: Bun.version,
      database: db.dialect,
      policy: auth.config.policy,
      publicUrl: auth.config.publicUrl ?? null,
      appsUrl: apps.origins?.pattern ?? null,
      issuer: auth.issuer,
      time: new Date().toISOString(),
    };
  });
