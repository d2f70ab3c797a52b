// /api/api-keys (SPEC §2.3): headless keys, each bound for life to one organization. Only a
// person's own session manages keys (a key cannot mint keys: rule 10); the key is shown once.
import { Elysia } from "elysia";
import { z } from "zod";
import { HttpError } from "../http/errors";
import { valid } from "../http/json";
import { authenticated, clientOf, requireSession, type Auth } from "./authn";
import { by } from "../audit";
import { apiKeyPrefix, hashToken, newApiKey, newId } from "./tokens";

export const createBody = z.object({
  name: z.string().trim().min(1).max(100),
  organizationId: z.string().min(1).max(100),
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});
const MUTABLE = new Set(["name", "enabled"]);
export const patchBody = z.object({ name: z.string().trim().min(1).max(100).optional(), enabled: z.boolean().optional() });

export const apiKeyRoutes = (auth: Auth) =>
  new Elysia()
    .use(authenticated(auth))
    .post(
      "/api/api-keys",
      async ({ principal, body: raw, set, request, server }) => {
        requireSession(principal);
        const body = valid(createBody, raw);
        if (!principal.roles[body.organizationId]) throw new HttpError(404, "not_found", "no such organization");
        const key = newApiKey();
        const id = newId("key");
        const expiresAt = body.expiresInDays ? new Date(Date.now() + body.expiresInDays * 86_400_000) : null;
        const prefix = apiKeyPrefix(key);
        await auth.store.addApiKey({ id, keyHash: hashToken(key), prefix, name: body.name, userId: principal.userId, orgId: body.organizationId, expiresAt }, new Date());
        auth.events.publish({ topic: "keys", user: principal.userId });
        auth.audit.record({ action: "apikey.create", actor: by(principal), org: body.organizationId, target: { type: "apikey", id, label: `sk_live_${prefix}` }, detail: { name: body.name, expiresAt: expiresAt?.toISOString() ?? null }, client: clientOf(auth, request, server) });
        set.status = 201;
        set.headers["cache-control"] = "no-store";
        return { id, key, prefix, name: body.name, organizationId: body.organizationId, expiresAt: expiresAt?.toISOString() ?? null };
      },
    )
    .get("/api/api-keys", async ({ principal }) => {
      requireSession(principal);
      return { keys: await auth.store.listApiKeys(principal.userId) };
    })
    .patch("/api/api-keys/:id", async ({ principal, params, body, request, server }) => {
      requireSession(principal);
      // The binding (organization, owner) and everything else about a key is fixed at creation:
      // refuse, by name, any field but the two that may change.
      const fields = body && typeof body === "object" && !Array.isArray(body) ? Object.keys(body) : [];
      const fixed = fields.filter((f) => !MUTABLE.has(f));
      if (fixed.length > 0) {
        throw new HttpError(400, "immutable_binding", `${fixed.join(", ")} cannot be changed: a key stays bound to its organization for life; create a new key instead`);
      }
      const change = patchBody.safeParse(body);
      if (!change.success || fields.length === 0) throw new HttpError(400, "invalid_request", "send name (text) and/or enabled (true or false)");
      if (!(await auth.store.updateApiKey(params.id, principal.userId, change.data))) throw new HttpError(404, "not_found", "no such API key");
      auth.resolver.forget({ userId: principal.userId });
      auth.events.publish({ topic: "keys", user: principal.userId });
      const key = (await auth.store.listApiKeys(principal.userId)).find((k) => k.id === params.id);
      auth.audit.record({ action: change.data.enabled === false ? "apikey.disable" : change.data.enabled ? "apikey.enable" : "apikey.rename", actor: by(principal), org: key?.organizationId ?? null, target: { type: "apikey", id: params.id, label: key && `sk_live_${key.prefix}` }, detail: change.data, client: clientOf(auth, request, server) });
      return key;
    })
    .delete("/api/api-keys/:id", async ({ principal, params, set, request, server }) => {
      requireSession(principal);
      // Read first: the audit log names the key's organization and prefix, which go with the row.
      const key = await auth.store.apiKeyById(params.id);
      if (!(await auth.store.deleteApiKey(params.id, principal.userId))) throw new HttpError(404, "not_found", "no such API key");
      auth.audit.record({ action: "apikey.revoke", actor: by(principal), org: key!.orgId, target: { type: "apikey", id: params.id, label: `sk_live_${key!.prefix}` }, detail: { name: key!.name }, client: clientOf(auth, request, server) });
      auth.resolver.forget({ userId: principal.userId });
      auth.events.publish({ topic: "keys", user: principal.userId });
      set.status = 204;
    });
