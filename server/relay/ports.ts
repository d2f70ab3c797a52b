// /api/hosts/:hostId/ports/:port/… (SPEC §4): a host's exposed port by path, on the dashboard's
// own origin. That origin holds the session cookie, so nothing served here may be active: every
// response carries `Content-Security-Policy: sandbox` (no script, an opaque origin) and never sets
// a cookie. It is meant for programs (curl, CI, `bench/relay.ts`) that send their credential in a
// header; a browser's cookie or ticket is refused unless the operator opted in with --path-apps.
// People open apps on their own origins (server/apps). The host never sees a Warren credential.
import { Elysia } from "elysia";
import type { Server } from "bun";
import { mintTicket, optionalPrincipal, upgradePrincipal, type Auth, type Principal } from "../auth";
import { HttpError } from "../http/errors";
import { clientOf } from "../auth/authn";
import { by } from "../audit";
import { isUpgrade } from "../http/sockets";
import type { Directory } from "./directory";
import { credentialHeaders, forwardHttp } from "./peer";
import { forwardWs, passHeaders, proxyHttp, proxyWs, type HeaderPolicy } from "./proxy";

const PATH = /^\/api\/hosts\/[^/]+\/ports\/[^/]+(\/.*)?$/;
/** Warren's own credentials and routing headers stop here. */
const OURS = (name: string) => name === "authorization" || name === "cookie" || name === "x-api-key" || name.startsWith("x-warren-");

/** Inert on the dashboard's origin: no script, no cookies, no sniffing a type into HTML. */
const sandboxed: HeaderPolicy = (headers) => [
  ...headers.filter(([k]) => k.toLowerCase() !== "set-cookie"),
  ["content-security-policy", "sandbox"],
  ["x-content-type-options", "nosniff"],
];

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port < 1 || port > 65535) throw new HttpError(400, "invalid_request", "the port must be a number from 1 to 65535");
  return port;
}

async function principalOf(auth: Auth, request: Request, server: Server<unknown> | null, set: { headers: Record<string, unknown> }): Promise<{ principal: Principal; browser: boolean }> {
  if (isUpgrade(request)) {
    const principal = await upgradePrincipal(auth, request, server);
    return { principal, browser: principal.viaCookie || new URL(request.url).searchParams.has("ticket") };
  }
  const r = await optionalPrincipal(auth, request, server, set);
  if (!r) throw new HttpError(401, "unauthorized", "sign in first: send Authorization: Bearer <token> or x-api-key");
  return { principal: r.principal, browser: r.principal.viaCookie };
}

export const portRoutes = (auth: Auth, hosts: Directory, pathApps: boolean) =>
  new Elysia().all(
    "/api/hosts/:hostId/ports/:port/*",
    async ({ params, request, server, set }) => {
      const { principal, browser } = await principalOf(auth, request, server, set);
      if (browser && !pathApps) {
        throw new HttpError(403, "path_apps_disabled", "apps open on their own origin: use the link on the dashboard (serving apps under /api/hosts/… to browsers is off; an operator can turn it on with --path-apps)");
      }
      const port = parsePort(params.port);
      const host = await hosts.find(principal, params.hostId, request);
      const upgrading = isUpgrade(request);
      auth.audit.sampled.record(`${principal.userId}:${host.entry.id}:${port}`, { action: "port.open", actor: by(principal), org: host.orgId, target: { type: "port", id: `${host.entry.id}:${port}`, label: host.entry.name }, detail: { websocket: upgrading }, client: clientOf(auth, request, server) });
      if (host.peer) {
        if (!upgrading) return forwardHttp(host.peer, request);
        const url = new URL(request.url);
        if (url.searchParams.has("ticket") && principal.sessionId) url.searchParams.set("ticket", (await mintTicket(auth, principal.sessionId)).ticket);
        await forwardWs(server!, request, `${host.peer.replace(/^http/, "ws")}${url.pathname}${url.search}`, credentialHeaders(request));
        return new Response(null, { status: 101 });
      }
      if (!host.mux) throw new HttpError(404, "port_not_exposed", "the server's own host exposes no ports; run warren host start --expose PORT on the machine instead");
      const mux = host.mux();
      if (!mux) throw new HttpError(503, "host_offline", "the host is not connected");
      const url = new URL(request.url);
      // A WebSocket's ticket was Warren's credential, spent getting here: the app never sees it.
      if (upgrading) url.searchParams.delete("ticket");
      const to = { mux, caller: { userId: principal.userId, orgId: host.orgId }, port, path: (PATH.exec(url.pathname)?.[1] ?? "/") + url.search, headers: passHeaders(request, OURS) };
      if (!upgrading) return proxyHttp(request, to, sandboxed);
      await proxyWs(server!, request, to);
      return new Response(null, { status: 101 });
    },
    { parse: "none" },
  );
