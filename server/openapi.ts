// GET /api/openapi.json: an OpenAPI 3.1 description of every HTTP route, built from the same zod
// schemas the routes validate with (z.toJSONSchema), so the document cannot drift from what the
// server accepts. Each route's entry says who may call it and how it fails; a test holds every
// registered route to having one.
import { Elysia } from "elysia";
import { z } from "zod";
import { VERSION } from "./about";
import { activeOrgBody, pairBody, pairingLinkBody } from "./auth/routes";
import { devicePollBody, deviceStartBody, invitationBody, oidcCallbackQuery, oidcStartQuery } from "./auth/oidc-routes";
import { newMember, orgBody, roleChange } from "./auth/orgs";
import { createBody, patchBody } from "./auth/api-keys";
import { attachQuery, newTerminal } from "./terminals";
import { hostPatch } from "./relay/hosts-api";
import { listQuery } from "./streams/list";
import { auditQuery } from "./audit";

/** Who may call a route. */
type Access =
  | "public"
  /** Any Warren credential: a session (cookie or Bearer), an API key, a JWT. */
  | "credential"
  /** A person's own session (SPEC §2.4 rule 10): keys and JWTs cannot widen themselves. */
  | "session"
  /** A host JWT (GET /api/auth/token?host=…), on the relay's WebSocket. */
  | "host"
  /** A credential, or a one-use ?ticket= (browsers cannot set headers on a WebSocket). */
  | "socket"
  /** An owner of the installation's first organization (--metrics-public). */
  | "owner";

interface Op {
  method: "get" | "post" | "put" | "patch" | "delete" | "head" | "options";
  /** The route as registered (`:param`, `*`). */
  route: string;
  summary: string;
  tag: string;
  access: Access;
  body?: z.ZodType;
  query?: z.ZodType;
  /** The success answer: status and what it is. */
  ok: [number, string];
  /** Failures beyond those every route of its access has (401, 403, 429, 500). */
  errors?: number[];
  /** A raw body (stream bytes, proxied requests) instead of JSON. */
  raw?: boolean;
}

const stream = "Durable Streams (https://github.com/durable-streams/durable-streams): bytes or JSON, offsets, long-poll and SSE, idempotent producers";

const OPS: Op[] = [
  { method: "get", route: "/healthz", summary: "200 when the database answers", tag: "server", access: "public", ok: [200, '{"status":"ok"}'], errors: [503] },
  { method: "get", route: "/api/server", summary: "That this is Warren; to a signed-in caller also its version, database, URLs and time", tag: "server", access: "public", ok: [200, "what the server is"] },
  { method: "get", route: "/api/openapi.json", summary: "This document", tag: "server", access: "public", ok: [200, "OpenAPI 3.1"] },
  { method: "get", route: "/metrics", summary: "Prometheus metrics (with --metrics-public)", tag: "server", access: "owner", ok: [200, "Prometheus text format"] },
  { method: "get", route: "/api/auth/session", summary: "Who am I (200 {authenticated:false} with no credential at all)", tag: "auth", access: "public", ok: [200, "the principal"], errors: [401] },
  { method: "patch", route: "/api/auth/session", summary: "Switch the session's active organization", tag: "auth", access: "session", body: activeOrgBody, ok: [200, "the principal"], errors: [400, 404] },
  { method: "post", route: "/api/auth/pair", summary: "Redeem a pairing token for a session (a cookie for browsers, the token for the CLI)", tag: "auth", access: "public", body: pairBody, ok: [200, "signed in"], errors: [400, 401, 403, 429] },
  { method: "get", route: "/api/auth/oidc", summary: "Whether this server signs people in with an OpenID Connect provider: {enabled, name, ready (reachable now), startUrl, required (--oidc-required: new people only through it), device (the provider offers the device authorization grant: warren auth login uses it)}", tag: "auth", access: "public", ok: [200, "{enabled, name?, ready?, startUrl?, required?, device?}"] },
  { method: "get", route: "/api/auth/oidc/start", summary: "Sign in with the provider (a browser navigates here): a redirect to it with PKCE, state and nonce; a page in words when it cannot be reached", tag: "auth", access: "public", query: oidcStartQuery, ok: [302, "to the provider"], errors: [404, 503] },
  { method: "get", route: "/api/auth/oidc/callback", summary: "Where the provider sends the browser back: the session cookie and a redirect to next (or, for the CLI, a page with a one-use code; for a link, the provider's account attached to the signed-in user, only in the session that started it); refusals are pages in words", tag: "auth", access: "public", query: oidcCallbackQuery, ok: [303, "signed in (or linked): to next"], errors: [400, 403, 404, 409, 502, 503] },
  { method: "post", route: "/api/auth/oidc/device", summary: "Start a device sign-in for the CLI (RFC 8628): the server asks the provider for a device code, which it keeps; the user code and page to show the person, and a handle (a secret of this server's, only its hash kept) to poll with. Rate-limited per address like /start", tag: "auth", access: "public", body: deviceStartBody, ok: [200, "{userCode, verificationUri, verificationUriComplete, interval, expiresIn, handle}"], errors: [400, 404, 502, 503] },
  { method: "post", route: "/api/auth/oidc/device/poll", summary: "Poll a device sign-in: the server asks the provider's token endpoint at most once an interval; 202 {status: pending | slow_down, interval} until the person approves, then a CLI session {status: approved, sessionToken, expiresAt} (the handle is then used up). 403 access_denied or a refusal reason (not_invited, email_unverified, linked_elsewhere), 410 expired_token, 404 unknown_handle (unknown, used or expired), 503 provider_unreachable", tag: "auth", access: "public", body: devicePollBody, ok: [200, "{status: approved, sessionToken, expiresAt}"], errors: [400, 404, 410, 502, 503] },
  { method: "get", route: "/api/auth/oidc/identity", summary: "Whether my account is linked to the provider", tag: "auth", access: "session", ok: [200, "{provider, linked, email, linkedAt}"], errors: [404] },
  { method: "post", route: "/api/auth/oidc/link", summary: "Link my account to the provider (a browser's cookie session; Origin checked): the provider's URL to send the browser to; its callback must come back to this same session", tag: "auth", access: "session", ok: [200, "{url}"], errors: [400, 404, 409, 503] },
  { method: "post", route: "/api/orgs/:id/invitations", summary: "Invite a person by email (owners and admins): no link to send; they sign in with the provider as that verified address, which uses the invitation up", tag: "organizations", access: "session", body: invitationBody, ok: [201, "{email, role, organizationId, expiresAt, signInUrl, provider}"], errors: [400, 404] },
  { method: "get", route: "/api/auth/jwks", summary: "The public keys that sign Warren's JWTs", tag: "auth", access: "public", ok: [200, "a JWK set"] },
  { method: "get", route: "/api/auth/token", summary: "A short-lived JWT for the caller (?host=<name> for a host JWT)", tag: "auth", access: "credential", ok: [200, "{token, expiresAt}"], errors: [400] },
  { method: "post", route: "/api/ws-ticket", summary: "A one-use, 30 s ticket for a browser's WebSocket", tag: "auth", access: "session", ok: [200, "{ticket, expiresAt}"] },
  { method: "post", route: "/api/auth/sign-out", summary: "End the presenting session; a browser session from the provider gets 200 {endSessionUrl} to go to, to sign out there too (single sign-out)", tag: "auth", access: "credential", ok: [204, "signed out (200 {endSessionUrl} for a provider's session)"] },
  { method: "get", route: "/api/auth/sessions", summary: "My sessions", tag: "auth", access: "session", ok: [200, "{sessions}"] },
  { method: "delete", route: "/api/auth/sessions/:id", summary: "Revoke one of my sessions", tag: "auth", access: "session", ok: [204, "revoked"], errors: [404] },
  { method: "post", route: "/api/auth/pairing-links", summary: "A one-time sign-in link: for a device of mine, or an invite to an organization (403 oidc_required under --oidc-required: invite by email)", tag: "auth", access: "session", body: pairingLinkBody, ok: [200, "{url, token, expiresAt}"], errors: [400, 404] },
  { method: "get", route: "/api/orgs", summary: "My organizations", tag: "organizations", access: "credential", ok: [200, "{organizations}"] },
  { method: "post", route: "/api/orgs", summary: "Create an organization (its creator becomes owner)", tag: "organizations", access: "session", body: orgBody, ok: [201, "the organization"], errors: [400, 409] },
  { method: "get", route: "/api/orgs/:id/members", summary: "An organization's members", tag: "organizations", access: "credential", ok: [200, "{members}"], errors: [404] },
  { method: "post", route: "/api/orgs/:id/members", summary: "Add an existing user (owners and admins)", tag: "organizations", access: "session", body: newMember, ok: [201, "{userId, role}"], errors: [400, 404, 409] },
  { method: "patch", route: "/api/orgs/:id/members/:userId", summary: "Change a member's role", tag: "organizations", access: "session", body: roleChange, ok: [200, "{userId, role}"], errors: [400, 404, 409] },
  { method: "get", route: "/api/orgs/:id/audit", summary: "The organization's audit log, newest first (owners and admins): who did what to what, from where; filters by actor, action (or member.*), target and time; ?cursor= from the last page's nextCursor", tag: "organizations", access: "credential", query: auditQuery, ok: [200, "{events: [{id, time, organizationId, action, actor: {kind, id, user}, target: {type, id, label}, outcome, reason, detail, client: {ip, userAgent}, requestId}], nextCursor}"], errors: [400, 404] },
  { method: "delete", route: "/api/orgs/:id/members/:userId", summary: "Remove a member (or leave)", tag: "organizations", access: "session", ok: [204, "removed"], errors: [404, 409] },
  { method: "post", route: "/api/api-keys", summary: "Create an API key bound to one organization (shown once)", tag: "api keys", access: "session", body: createBody, ok: [201, "{id, key, prefix, …}"], errors: [400, 404] },
  { method: "get", route: "/api/api-keys", summary: "My API keys (by prefix, never the key)", tag: "api keys", access: "session", ok: [200, "{keys}"] },
  { method: "patch", route: "/api/api-keys/:id", summary: "Rename, enable or disable a key (its organization is fixed: 400 immutable_binding)", tag: "api keys", access: "session", body: patchBody, ok: [200, "the key"], errors: [400, 404] },
  { method: "delete", route: "/api/api-keys/:id", summary: "Revoke a key", tag: "api keys", access: "session", ok: [204, "revoked"], errors: [404] },
  { method: "get", route: "/api/hosts", summary: "The hosts I can reach: kind (local or remote), platform, version, connected since or last seen, ports and their apps", tag: "hosts", access: "credential", ok: [200, "{hosts}"] },
  { method: "get", route: "/api/events", summary: "Server-Sent Events: `change` with {topic} (hosts, terminals, keys, members, sessions) whenever something the caller may see changed; refetch that part. Ends when the credential is revoked", tag: "hosts", access: "credential", ok: [200, "text/event-stream"] },
  { method: "patch", route: "/api/hosts/:hostId", summary: "Rename a remote host (owners and admins of its org)", tag: "hosts", access: "credential", body: hostPatch, ok: [200, "the host"], errors: [400, 403, 404, 409] },
  { method: "delete", route: "/api/hosts/:hostId", summary: "Remove a remote host (owners and admins); a connected one is disconnected and its agent stops", tag: "hosts", access: "credential", ok: [204, "removed"], errors: [400, 403, 404] },
  { method: "get", route: "/api/hosts/:hostId/terminals", summary: "A host's terminals", tag: "terminals", access: "credential", ok: [200, "{terminals}"], errors: [404, 502, 503] },
  { method: "post", route: "/api/hosts/:hostId/terminals", summary: "Start a terminal on a host", tag: "terminals", access: "credential", body: newTerminal, ok: [201, "the terminal"], errors: [400, 404, 501, 502, 503] },
  { method: "delete", route: "/api/hosts/:hostId/terminals/:tid", summary: "Kill a terminal (SIGHUP, then SIGKILL after 5 s)", tag: "terminals", access: "credential", ok: [202, "the terminal"], errors: [404, 502, 503] },
  { method: "get", route: "/api/hosts/:hostId/terminals/:tid/attach", summary: "Attach over WebSocket (term.v1: bytes both ways, JSON control messages)", tag: "terminals", access: "socket", query: attachQuery, ok: [101, "switching protocols"], errors: [400, 404, 426, 502, 503] },
  { method: "get", route: "/api/hosts/:hostId/ports/:port/*", summary: "A host's exposed port by path, for programs (sandboxed; browsers only with --path-apps); any method, WebSockets too", tag: "apps", access: "credential", raw: true, ok: [200, "the app's answer"], errors: [400, 404, 502, 503] },
  { method: "get", route: "/apps/launch", summary: "Open an app on its own origin: a redirect with a one-use code", tag: "apps", access: "session", ok: [302, "to the app's origin"], errors: [404] },
  { method: "get", route: "/relay/connect", summary: "Where hosts dial in (WebSocket, relay.v1 frames); 409 when the host name it asks for is another machine's", tag: "relay", access: "host", ok: [101, "switching protocols"], errors: [409, 426] },
  { method: "get", route: "/api/streams", summary: "The streams of the organization the credential acts in, by path (?prefix=), a page at a time (?limit=, ?cursor= from the last page's next)", tag: "streams", access: "credential", query: listQuery, ok: [200, "{streams: [{path, contentType, bytes, nextOffset, closed, createdAt, ttlSeconds, expiresAt}], next}"], errors: [400] },
  ...(["get", "head", "put", "post", "delete"] as const).map(
    (method): Op => ({
      method,
      route: "/v1/stream/*",
      summary: { get: "Read from an offset (catch-up, ?live=long-poll or sse)", head: "A stream's metadata", put: "Create a stream", post: "Append (Producer-* headers for exactly once)", delete: "Delete a stream" }[method],
      tag: "streams",
      access: "credential",
      raw: true,
      ok: [method === "put" ? 201 : method === "post" || method === "delete" ? 204 : 200, stream],
      errors: [400, 404, 409, 410, 413],
    }),
  ),
  { method: "options", route: "/v1/stream/*", summary: "CORS preflight", tag: "streams", access: "public", ok: [204, "what a browser may send"] },
  { method: "get", route: "/", summary: "The dashboard (HTML)", tag: "pages", access: "public", ok: [200, "text/html"] },
  { method: "get", route: "/pair", summary: "The sign-in page (HTML)", tag: "pages", access: "public", ok: [200, "text/html"] },
  { method: "get", route: "/term/:hostId/:tid", summary: "A terminal in the browser (HTML)", tag: "pages", access: "public", ok: [200, "text/html"] },
  ...["pair.js", "home.js", "style.css", "term.js", "term.css", "protocol.js", "xterm.mjs", "xterm.css", "addon-fit.mjs"].map(
    (file): Op => ({ method: "get", route: `/assets/${file}`, summary: "A page asset", tag: "pages", access: "public", ok: [200, "the asset (ETag)"], errors: [] }),
  ),
];

const SECURITY: Record<Access, Record<string, string[]>[]> = {
  public: [],
  credential: [{ bearer: [] }, { apiKey: [] }, { cookie: [] }],
  session: [{ bearer: [] }, { cookie: [] }],
  host: [{ bearer: [] }],
  socket: [{ bearer: [] }, { apiKey: [] }, { cookie: [] }, { ticket: [] }],
  owner: [{ bearer: [] }, { apiKey: [] }, { cookie: [] }],
};

const WHY: Record<number, string> = {
  400: "the request is not valid (the field and what it should be)",
  401: "no credential, or a bad, expired or revoked one",
  403: "a credential without the right (another organization, a key where a session is needed, CSRF Origin)",
  404: "no such thing, or one the caller may not see",
  409: "it conflicts with what exists",
  410: "deleted; its forks still read its data",
  413: "the body is too large",
  426: "this route speaks WebSocket",
  429: "too many failed credentials from this address (Retry-After)",
  500: "a bug: the request id to quote",
  501: "the host has no PTY support",
  502: "the host answered with something Warren cannot use, or could not be reached",
  503: "the host is not connected, or the database does not answer",
};

/** `/api/orgs/:id` → `/api/orgs/{id}`; a trailing `*` is a `{path}` that may hold slashes. */
export const openapiPath = (route: string) => route.replace(/:([A-Za-z]+)/g, "{$1}").replace(/\/\*$/, "/{path}");

const jsonSchema = (schema: z.ZodType) => {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return rest;
};

function parameters(op: Op) {
  const names = [...op.route.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]!);
  if (op.route.endsWith("/*")) names.push("path");
  const inPath = names.map((name) => ({ name, in: "path", required: true, schema: { type: "string" }, ...(name === "path" ? { description: "the rest of the path; it may contain slashes" } : {}) }));
  const query = op.query ? Object.entries((jsonSchema(op.query).properties ?? {}) as Record<string, object>).map(([name, schema]) => ({ name, in: "query", required: false, schema })) : [];
  return [...inPath, ...query];
}

function operation(op: Op) {
  const codes = new Set(op.errors ?? []);
  if (op.access !== "public") [401, 403, 429].forEach((c) => codes.add(c));
  if (op.tag !== "pages") codes.add(500);
  const responses: Record<string, object> = {
    [op.ok[0]]: { description: op.ok[1], ...(op.raw || op.tag === "pages" || op.ok[0] >= 300 ? {} : { content: { "application/json": { schema: { type: "object" } } } }) },
  };
  for (const c of [...codes].sort()) responses[c] = { description: WHY[c] ?? "error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
  return {
    summary: op.summary,
    tags: [op.tag],
    operationId: `${op.method} ${op.route}`,
    security: SECURITY[op.access],
    ...(parameters(op).length ? { parameters: parameters(op) } : {}),
    ...(op.body ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(op.body) } } } } : {}),
    ...(op.raw && (op.method === "put" || op.method === "post") ? { requestBody: { required: false, content: { "*/*": { schema: {} } } } } : {}),
    responses,
  };
}

/** The document, for the server's own URL. */
export function openapiDocument(serverUrl: string) {
  const paths: Record<string, Record<string, object>> = {};
  for (const op of OPS) (paths[openapiPath(op.route)] ??= {})[op.method] = operation(op);
  return {
    openapi: "3.1.0",
    info: { title: "Warren", version: VERSION, description: "The self-hosted server side of remote development: auth, durable streams, a relay and terminals." },
    servers: [{ url: serverUrl }],
    paths,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "A session token (wss_…), an API key (sk_live_…) or a Warren JWT" },
        apiKey: { type: "apiKey", in: "header", name: "x-api-key", description: "An API key (sk_live_…), bound to one organization" },
        cookie: { type: "apiKey", in: "cookie", name: "warren_session", description: "A browser session (__Host-warren_session over https); changes need our Origin" },
        ticket: { type: "apiKey", in: "query", name: "ticket", description: "A one-use WebSocket ticket from POST /api/ws-ticket" },
      },
      schemas: {
        Error: {
          type: "object",
          required: ["error"],
          properties: { error: { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" }, requestId: { type: "string" } } } },
        },
      },
    },
  };
}

export const openapiRoute = (publicUrl: () => string) => {
  let doc: string | undefined;
  return new Elysia().get("/api/openapi.json", () => new Response((doc ??= JSON.stringify(openapiDocument(publicUrl()))), { headers: { "content-type": "application/json", "access-control-allow-origin": "*" } }));
};
