// /api/hosts: the hosts a principal can see (the server's own and those that dialled in), with
// what a person needs to tell them apart — kind, platform, version, when connected or last seen,
// exposed ports and their app URLs — and, for owners and admins of the host's organization,
// rename and remove. Terminals on a host are terminals.ts's.
import { Elysia } from "elysia";
import { z } from "zod";
import { authenticated, requireAdmin, type Auth } from "../auth";
import { clientOf } from "../auth/authn";
import { by } from "../audit";
import { valid } from "../http/json";
import { HOST_NAME, HOST_NAME_RULE } from "../../relay/codec";
import type { Apps } from "../apps";
import type { Directory } from "./directory";

export const hostPatch = z.object({ name: z.string().regex(HOST_NAME, HOST_NAME_RULE) });

export const hostRoutes = (auth: Auth, hosts: Directory, apps: Apps) =>
  new Elysia()
    .use(authenticated(auth))
    .get("/api/hosts", async ({ principal }) => ({
      hosts: (await hosts.list(principal)).map((h) => {
        const org = principal.organizations.find((o) => o.id === h.organizationId)!;
        return { ...h, apps: h.ports.map((port) => ({ port, url: apps.url(port, h, org) })) };
      }),
    }))
    .patch("/api/hosts/:hostId", async ({ principal, params, body: raw, request, server }) => {
      const body = valid(hostPatch, raw);
      const host = await hosts.describe(principal, params.hostId);
      requireAdmin(principal, host.organizationId, "hosts");
      await hosts.rename(host, body.name);
      auth.audit.record({ action: "host.rename", actor: by(principal), org: host.organizationId, target: { type: "host", id: host.id, label: body.name }, detail: { from: host.name }, client: clientOf(auth, request, server) });
      return { ...host, name: body.name };
    })
    .delete("/api/hosts/:hostId", async ({ principal, params, set, request, server }) => {
      const host = await hosts.describe(principal, params.hostId);
      requireAdmin(principal, host.organizationId, "hosts");
      await hosts.remove(host);
      auth.audit.record({ action: "host.remove", actor: by(principal), org: host.organizationId, target: { type: "host", id: host.id, label: host.name }, client: clientOf(auth, request, server) });
      set.status = 204;
      return null;
    });
