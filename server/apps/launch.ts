// GET /apps/launch?app=<label>&path=/… on the dashboard's origin: where every app link goes when
// the browser has no app cookie yet. The signed-in session picks the app by its label among the
// user's organizations and hosts, and the browser is sent to the app's origin with a one-use code
// (30 s, good for that origin only) that the app origin turns into its cookie. Not signed in:
// the sign-in page first, which comes back here.
import { Elysia } from "elysia";
import { mintAppCode, optionalPrincipal, requireSession } from "../auth";
import { clientOf } from "../auth/authn";
import { by } from "../audit";
import { HttpError } from "../http/errors";
import type { Apps } from "./apps";
import { CODE_PARAM } from "./serve";

/** A path on the app's origin: absolute, never another host's (`//evil`), at most 2 KB. */
const safePath = (path: unknown) => (typeof path === "string" && path.startsWith("/") && !path.startsWith("//") && !path.includes("\\") && path.length <= 2048 ? path : "/");

export const launchRoute = (apps: Apps) =>
  new Elysia().get("/apps/launch", async ({ request, server, set, query }) => {
    if (!apps.origins) {
      throw new HttpError(404, "apps_disabled", "this server serves no apps: start it with --apps-url 'https://*.apps.example.com' (a wildcard name pointing at it)");
    }
    const label = typeof query.app === "string" ? query.app.toLowerCase() : "";
    const r = await optionalPrincipal(apps.auth, request, server, set);
    set.headers["cache-control"] = "no-store";
    set.headers["referrer-policy"] = "no-referrer";
    if (!r) {
      const here = new URL(request.url);
      set.status = 302;
      set.headers.location = `/pair?${new URLSearchParams({ next: here.pathname + here.search })}`;
      return null;
    }
    requireSession(r.principal);
    const app = await apps.resolve(r.principal, label);
    if (!app) throw new HttpError(404, "not_found", "no such app: it names a host or organization you cannot see");
    apps.auth.audit.record({ action: "app.open", actor: by(r.principal), org: app.orgId, target: { type: "port", id: `${app.hostId}:${app.port}`, label }, client: clientOf(apps.auth, request, server) });
    const code = await mintAppCode(apps.auth, r.principal.sessionId!, label);
    const path = safePath(query.path);
    const target = new URL(path, apps.origins.origin(label));
    target.searchParams.set(CODE_PARAM, code);
    set.status = 302;
    set.headers.location = target.toString();
    return null;
  });
