// A request to an app's own origin (`3000--devbox--acme.localhost:7420`). It never reaches
// Warren's routes: it is the app's, all of it, authenticated only by the app cookie. A browser
// without one is sent to the dashboard's launch route, which comes back with a one-use code in
// `?warren_app_code=`; that code becomes the cookie and leaves the URL before the app sees any
// of it. What the app sends back is its own business, except that it can never touch Warren's
// cookies: Set-Cookie for our names is dropped, and a Domain attribute is removed so an app
// cannot set cookies for its neighbours or the dashboard.
import type { Server } from "bun";
import { requestIp } from "../auth/authn";
import { cookieName, readCookie } from "../auth/cookies";
import type { AppGrant } from "../auth";
import { HttpError } from "../http/errors";
import { isUpgrade } from "../http/sockets";
import { forwardHttp, FORWARDED } from "../relay/peer";
import { forwardWs, passHeaders, proxyHttp, proxyWs, type HeaderPolicy } from "../relay/proxy";
import type { Apps } from "./apps";

export const CODE_PARAM = "warren_app_code";
/** On a request forwarded to the replica holding the app's host: which app it is for. */
export const APP_HEADER = "x-warren-app";
/** Cookies an app may neither see nor set, whatever the scheme. */
const OURS = new Set(["warren_app", "__host-warren_app", "warren_session", "__host-warren_session"]);

const cookieNameOf = (setCookie: string) => setCookie.slice(0, Math.max(0, setCookie.indexOf("="))).trim().toLowerCase();

/** The app's Set-Cookie headers, minus ours, each made host-only. */
const appPolicy: HeaderPolicy = (headers) =>
  headers.flatMap(([k, v]): [string, string][] => {
    if (k.toLowerCase() !== "set-cookie") return [[k, v]];
    if (OURS.has(cookieNameOf(v))) return [];
    return [[k, v.replace(/;\s*domain\s*=[^;]*/gi, "")]];
  });

/** The Cookie header without the app cookie: the app never sees Warren's token. */
function cookiesForApp(header: string | null): string | null {
  if (!header) return null;
  const kept = header
    .split(";")
    .map((c) => c.trim())
    .filter((c) => c && !OURS.has(cookieNameOf(c)));
  return kept.length ? kept.join("; ") : null;
}

/** A page load, as opposed to a script's fetch: only those are sent round the dashboard. */
function isNavigation(request: Request): boolean {
  if (request.method !== "GET") return false;
  const mode = request.headers.get("sec-fetch-mode");
  return mode ? mode === "navigate" : (request.headers.get("accept") ?? "").includes("text/html");
}

function redirect(location: string, headers: Record<string, string> = {}): Response {
  return new Response(null, { status: 302, headers: { location, "cache-control": "no-store", "referrer-policy": "no-referrer", ...headers } });
}

export async function serveApp(apps: Apps, label: string, request: Request, server: Server<unknown>): Promise<Response> {
  const origins = apps.origins!;
  const url = new URL(request.url);
  const code = url.searchParams.get(CODE_PARAM);
  if (code !== null) {
    const p = await apps.auth.resolver.appCode(code, label, () => requestIp(apps.auth, request, server));
    const target = await apps.resolve(p, label);
    if (!target) throw new HttpError(404, "not_found", "no such app");
    const { value } = await apps.cookie({ userId: p.userId, orgId: target.orgId, sessionId: p.sessionId!, app: { label, hostId: target.hostId, port: target.port } });
    url.searchParams.delete(CODE_PARAM);
    return redirect(url.pathname + url.search, { "set-cookie": value });
  }

  const token = readCookie(request.headers.get("cookie"), cookieName("warren_app", origins.secure));
  let grant: AppGrant | null = null;
  if (token) {
    grant = await apps.auth.resolver.app(token, label).catch((e) => {
      if (e instanceof HttpError && e.status === 403) throw e;
      return null;
    });
  }
  if (!grant) {
    if (isNavigation(request)) return redirect(apps.launchUrl(label, url.pathname + url.search));
    throw new HttpError(401, "unauthorized", "open this app from the Warren dashboard first: its link signs you in to the app");
  }

  const host = await apps.hosts.byId(grant.orgId, grant.app.hostId, request);
  const renewal = apps.dueForRenewal(grant) ? (await apps.cookie(grant)).value : null;
  const upgrading = isUpgrade(request);
  if (host.peer) {
    // The replica holding the host serves it as its own app request: same Host, same cookie.
    const appHost = { [APP_HEADER]: label, "x-forwarded-host": request.headers.get("host")! };
    if (!upgrading) return withCookie(await forwardHttp(host.peer, request, appHost), renewal);
    const headers: Record<string, string> = { [FORWARDED]: "1", ...appHost };
    for (const [k, v] of passHeaders(request, (n) => n.startsWith("sec-websocket-"))) headers[k] = v;
    await forwardWs(server, request, `${host.peer.replace(/^http/, "ws")}${url.pathname}${url.search}`, headers);
    return new Response(null, { status: 101 });
  }
  const mux = host.mux?.();
  if (!mux) throw new HttpError(503, "host_offline", "the host is not connected");
  const headers = passHeaders(request, (n) => n === "cookie" || n.startsWith("x-warren-") || n.startsWith("x-forwarded-"));
  const cookies = cookiesForApp(request.headers.get("cookie"));
  if (cookies) headers.push(["cookie", cookies]);
  // Where the browser is: this Host, or the one the replica that forwarded the request was asked by.
  const shownHost = (request.headers.has(APP_HEADER) && request.headers.get("x-forwarded-host")) || request.headers.get("host")!;
  headers.push(["x-forwarded-host", shownHost], ["x-forwarded-proto", origins.secure ? "https" : "http"]);
  const to = { mux, caller: { userId: grant.userId, orgId: grant.orgId }, port: grant.app.port, path: url.pathname + url.search, headers };
  if (upgrading) {
    await proxyWs(server, request, to);
    return new Response(null, { status: 101 });
  }
  return withCookie(await proxyHttp(request, to, appPolicy), renewal);
}

function withCookie(response: Response, cookie: string | null): Response {
  if (cookie) response.headers.append("set-cookie", cookie);
  return response;
}
