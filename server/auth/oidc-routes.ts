// Sign in with the team's OpenID Connect provider (docs/oidc.md):
//   GET /api/auth/oidc           public: is it configured, its name, can it be reached (the page asks)
//   GET /api/auth/oidc/start     redirect to the provider (?next=/path; ?client=cli for `warren auth login`)
//   GET /api/auth/oidc/callback  where the provider sends the browser back: a session, then `next`
//                                (or, for a link, the provider's account attached to the signed-in user)
//   POST /api/auth/oidc/device   public: `warren auth login` starts a device authorization (RFC 8628)
//                                with the provider: the user code to show, and a handle to poll with
//   POST /api/auth/oidc/device/poll  public: the server polls the provider once; 202 until the
//                                person approves, then a CLI session's token in the body
//   GET /api/auth/oidc/identity  signed in: is my account linked to the provider
//   POST /api/auth/oidc/link     signed in (a browser's cookie session): link my account — the
//                                provider's URL to go to; the callback must come back to this session
//   POST /api/orgs/:id/invitations  invite a person by email: they sign in with the provider
// The browser-facing start and callback answer with pages, never JSON and never a 500: a person is looking.
// What a sign-in produces is an ordinary DB session (hashed, sliding, revocable) with the same
// cookie as a browser pairing, or — for the CLI — a one-use pairing token shown on the page, which
// the person pastes into `warren auth login`, or the session of a device authorization, in the
// body of the CLI's poll; no credential is ever put in a URL.
import { Elysia } from "elysia";
import type { Server } from "bun";
import { timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { SECURITY_HEADERS } from "../web";
import { HttpError } from "../http/errors";
import { valid } from "../http/json";
import { by } from "../audit";
import { authenticated, clientOf, requestIp, requireSession, type Auth } from "./authn";
import { clearedCookie, cookieName, readCookie, setCookie } from "./cookies";
import { OidcError, type Claims } from "./oidc";
import { mintPairing, PAIRING_TTL_SECONDS } from "./pairing";
import { SESSION_DAYS } from "./resolver";
import { roleSchema, requireAdmin } from "./orgs";
import { baseUrl, deviceFrom } from "./routes";
import { hashToken, newId, newSessionToken, newTicket } from "./tokens";

const DAY = 86_400_000;
/** How long a person may spend at the provider's login page. */
const STATE_TTL_MS = 10 * 60_000;
const CALLBACK = "/api/auth/oidc/callback";
const BINDING = /^[A-Za-z0-9_-]{43}$/;
/**
 * Sign-ins one client address may start a minute. Each start writes a row (swept after
 * STATE_TTL_MS): without a bound, a loop of anonymous GETs would fill the table.
 */
const STARTS_PER_MINUTE = 30;
const starts = new Map<string, { n: number; since: number }>();
function tooManyStarts(auth: Auth, request: Request, server: Server<unknown> | null | undefined): boolean {
  const ip = requestIp(auth, request, server);
  const now = Date.now();
  const seen = starts.get(ip);
  if (seen && now - seen.since < 60_000) {
    if (++seen.n <= STARTS_PER_MINUTE) return false;
    auth.audit.refusals.tripped(ip);
    return true;
  }
  if (starts.size >= 10_000) starts.clear(); // bounded memory under many addresses; a reset only forgives
  starts.set(ip, { n: 1, since: now });
  return false;
}

/** For the API description (server/openapi.ts); the handlers read these leniently, as pages must. */
export const oidcStartQuery = z.object({
  next: z.string().max(2000).optional().describe("a path on this server to land on once signed in (default /)"),
  client: z.enum(["browser", "cli"]).optional().describe("cli: show a one-use code for warren auth login instead of signing this browser in"),
});
export const oidcCallbackQuery = z.object({ code: z.string().optional(), state: z.string().optional(), error: z.string().optional(), iss: z.string().optional() });
export const deviceStartBody = z.object({ deviceName: z.string().trim().min(1).max(100).optional().describe("how the CLI's session is listed (default: from the User-Agent)") });
export const devicePollBody = z.object({ handle: z.string().regex(BINDING).describe("the handle POST /api/auth/oidc/device returned") });
export const invitationBody = z.object({
  email: z.string().trim().toLowerCase().email().max(254),
  name: z.string().trim().min(1).max(100).optional(),
  role: roleSchema,
  ttlSeconds: z.number().int().min(30).max(7 * 86_400).default(7 * 86_400),
});

/** A path on this origin, nothing else (an open redirect would hand the session's page to anyone). */
export function safeNext(value: string | null): string {
  return value && value.startsWith("/") && !value.startsWith("//") && !value.includes("\\") && value.length <= 2000 ? value : "/";
}

export const oidcRoutes = (auth: Auth) =>
  new Elysia()
    .get("/api/auth/oidc", async ({ set }) => {
      set.headers["cache-control"] = "no-store";
      const oidc = auth.oidc;
      if (!oidc) return { enabled: false };
      const ready = (await oidc.ready()) !== null;
      return { enabled: true, name: oidc.name, ready, startUrl: "/api/auth/oidc/start", required: oidc.config.required, device: ready && oidc.device };
    })
    .get("/api/auth/oidc/start", async ({ request, set, server }) => logged(set, await (async () => {
      const oidc = auth.oidc;
      if (!oidc) return page(404, "Not set up here", "This Warren server does not sign people in with an identity provider. Sign in with a pairing link.");
      if (tooManyStarts(auth, request, server)) return page(429, "Too many sign-ins", "Too many sign-ins were started from this address in the last minute. Wait a minute and try again.");
      const url = new URL(request.url);
      try {
        const flow = await begin(auth, request, { next: safeNext(url.searchParams.get("next")), client: url.searchParams.get("client") === "cli" ? "cli" : "browser", linkSessionId: null });
        return new Response(null, { status: 302, headers: { location: flow.url, "cache-control": "no-store", "referrer-policy": "no-referrer", "set-cookie": flow.cookie } });
      } catch (e) {
        return failed(auth, e, "start");
      }
    })()))
    .get(CALLBACK, async ({ request, set, server }) => logged(set, await (async () => {
      const oidc = auth.oidc;
      if (!oidc) return page(404, "Not set up here", "This Warren server does not sign people in with an identity provider. Sign in with a pairing link.");
      const url = new URL(request.url);
      const state = url.searchParams.get("state");
      const binding = readCookie(request.headers.get("cookie"), cookieName("warren_oidc", auth.config.secureCookies));
      const row = state && state.length <= 512 ? await auth.store.takeOidcState(hashToken(state), new Date()) : null;
      if (!row || !binding || !sameHash(row.browserHash, hashToken(binding))) {
        auth.log?.warn("oidc sign-in refused", { reason: row ? "other_browser" : "unknown_state" });
        signInFailed(auth, request, server, row ? "other_browser" : "unknown_state");
        return page(400, "This sign-in cannot be completed", "This sign-in link was already used, has expired, or was started in another browser. Start again from the sign-in page.", { again: true });
      }
      if (row.linkSessionId) return await link(auth, request, server, url, { ...row, linkSessionId: row.linkSessionId, state: state! });
      try {
        const claims = await oidc.finish(url, { ...row, state: state! });
        const admission = await admit(auth, request, server, claims);
        if (!admission.ok) {
          auth.log?.warn("oidc sign-in refused", { reason: admission.reason, issuer: oidc.config.issuer, emailDomain: claims.email?.split("@").pop() ?? null });
          signInFailed(auth, request, server, admission.reason);
          const words = refusalWords(admission.reason, oidc.name);
          return page(403, words.title, words.message);
        }
        const { userId } = admission;
        auth.log?.info("oidc sign-in", { userId, issuer: oidc.config.issuer, created: admission.created, client: row.client });
        const actor = { kind: "user" as const, id: userId, user: userId };
        if (row.client === "cli") {
          const minted = await mintPairing(auth.store, { userId, invite: null, uses: 1, createdBy: userId, ttlSeconds: PAIRING_TTL_SECONDS });
          return codePage(minted.token, Math.round(PAIRING_TTL_SECONDS / 60));
        }
        const token = newSessionToken();
        const now = new Date();
        const expiresAt = new Date(now.getTime() + SESSION_DAYS * DAY);
        const sessionId = newId("ses");
        await auth.store.addSession(userId, { id: sessionId, tokenHash: hashToken(token), client: "browser", deviceName: deviceFrom(request, "browser"), expiresAt, oidcIssuer: oidc.config.issuer }, now);
        // The CLI's sign-in is recorded when its one-use code is redeemed (POST /api/auth/pair).
        auth.audit.record({ action: "session.signin", actor, org: (await auth.store.memberships(userId))[0]?.orgId ?? null, target: { type: "session", id: sessionId, label: "browser" }, detail: { via: "oidc", created: admission.created }, client: clientOf(auth, request, server) });
        auth.events.publish({ topic: "sessions", user: userId });
        const headers = new Headers({ location: row.next, "cache-control": "no-store", "referrer-policy": "no-referrer" });
        // Exactly the cookie a browser pairing sets (routes.ts).
        headers.append("set-cookie", setCookie("warren_session", auth.config.secureCookies, token, expiresAt));
        headers.append("set-cookie", clearedCookie("warren_oidc", auth.config.secureCookies));
        return new Response(null, { status: 303, headers });
      } catch (e) {
        signInFailed(auth, request, server, e instanceof OidcError ? "provider_refused" : "error");
        return failed(auth, e, "callback");
      }
    })()))
    .post("/api/auth/oidc/device", async ({ body: raw, request, server, set }) => {
      const oidc = configured(auth);
      const body = valid(deviceStartBody, raw ?? {});
      if (tooManyStarts(auth, request, server)) throw new HttpError(429, "rate_limited", "too many sign-ins were started from this address in the last minute; wait a minute", { "retry-after": "60" });
      let grant;
      try {
        grant = await oidc.startDevice();
      } catch (e) {
        if (!(e instanceof OidcError)) throw e;
        auth.log?.warn("oidc device sign-in not started", { status: e.status, detail: e.detail ?? null });
        throw new HttpError(e.status, e.status === 503 ? "provider_unreachable" : "device_unavailable", e.message);
      }
      const handle = newTicket();
      const interval = Math.max(grant.interval ?? 5, 1);
      const now = Date.now();
      await auth.store.addDeviceGrant({
        handleHash: hashToken(handle),
        deviceCode: grant.device_code,
        interval,
        nextPollAt: new Date(now),
        deviceName: body.deviceName ?? deviceFrom(request, "cli"),
        expiresAt: new Date(now + grant.expires_in * 1000),
      });
      set.headers["cache-control"] = "no-store";
      return {
        userCode: grant.user_code,
        verificationUri: grant.verification_uri,
        verificationUriComplete: grant.verification_uri_complete ?? null,
        interval,
        expiresIn: grant.expires_in,
        handle,
      };
    })
    .post("/api/auth/oidc/device/poll", async ({ body: raw, request, server, set }) => {
      const oidc = configured(auth);
      const { handle } = valid(devicePollBody, raw);
      set.headers["cache-control"] = "no-store";
      const handleHash = hashToken(handle);
      const now = new Date();
      const row = await auth.store.deviceGrant(handleHash, now);
      if (!row) throw new HttpError(404, "unknown_handle", "this sign-in is unknown, already used or expired; run warren auth login again");
      const waiting = (interval: number) => {
        set.status = 202;
        set.headers["retry-after"] = String(interval);
        return { status: "pending" as const, interval };
      };
      // The provider is asked at most once an interval, however often (or in parallel) the CLI asks.
      const next = new Date(now.getTime() + row.interval * 1000);
      if (row.nextPollAt > now || !(await auth.store.claimDevicePoll(handleHash, row.nextPollAt, row.interval, next))) return waiting(row.interval);
      let polled;
      try {
        polled = await oidc.pollDevice(row.deviceCode);
      } catch (e) {
        if (!(e instanceof OidcError)) throw e;
        auth.log?.warn("oidc device sign-in failed", { status: e.status, reason: e.title, detail: e.detail ?? null });
        // Unreachable is worth another poll; anything else was the provider's last word.
        if (e.status !== 503) await auth.store.takeDeviceGrant(handleHash);
        signInFailed(auth, request, server, e.status === 503 ? "provider_unreachable" : "provider_refused", "device");
        throw new HttpError(e.status, e.status === 503 ? "provider_unreachable" : e.status === 502 ? "id_token_rejected" : "provider_refused", e.message);
      }
      switch (polled.status) {
        case "pending":
          return waiting(row.interval);
        case "slow_down": {
          // RFC 8628 §3.5: every slow_down adds 5 seconds to the interval, for good.
          const interval = row.interval + 5;
          await auth.store.claimDevicePoll(handleHash, next, interval, new Date(now.getTime() + interval * 1000));
          return { ...waiting(interval), status: "slow_down" as const };
        }
        case "denied":
        case "expired":
          await auth.store.takeDeviceGrant(handleHash);
          signInFailed(auth, request, server, polled.status === "denied" ? "device_denied" : "device_expired", "device");
          throw polled.status === "denied"
            ? new HttpError(403, "access_denied", `the sign-in was refused at ${oidc.name}`)
            : new HttpError(410, "expired_token", `the code was not entered at ${oidc.name} in time; run warren auth login again`);
      }
      if (!(await auth.store.takeDeviceGrant(handleHash))) throw new HttpError(404, "unknown_handle", "this sign-in is unknown, already used or expired; run warren auth login again");
      const claims = polled.claims;
      const admission = await admit(auth, request, server, claims);
      if (!admission.ok) {
        auth.log?.warn("oidc sign-in refused", { reason: admission.reason, issuer: oidc.config.issuer, emailDomain: claims.email?.split("@").pop() ?? null, flow: "device" });
        signInFailed(auth, request, server, admission.reason, "device");
        const words = refusalWords(admission.reason, oidc.name);
        throw new HttpError(403, admission.reason, `${words.title}: ${words.message}`);
      }
      const { userId } = admission;
      auth.log?.info("oidc sign-in", { userId, issuer: oidc.config.issuer, created: admission.created, client: "cli", flow: "device" });
      const token = newSessionToken();
      const expiresAt = new Date(now.getTime() + SESSION_DAYS * DAY);
      const sessionId = newId("ses");
      await auth.store.addSession(userId, { id: sessionId, tokenHash: hashToken(token), client: "cli", deviceName: row.deviceName, expiresAt, oidcIssuer: oidc.config.issuer }, now);
      auth.audit.record({ action: "session.signin", actor: { kind: "user", id: userId, user: userId }, org: (await auth.store.memberships(userId))[0]?.orgId ?? null, target: { type: "session", id: sessionId, label: "cli" }, detail: { via: "oidc", flow: "device", created: admission.created }, client: clientOf(auth, request, server) });
      auth.events.publish({ topic: "sessions", user: userId });
      return { status: "approved" as const, sessionToken: token, expiresAt: expiresAt.toISOString() };
    })
    .use(authenticated(auth))
    .get("/api/auth/oidc/identity", async ({ principal, set }) => {
      requireSession(principal);
      const oidc = configured(auth);
      set.headers["cache-control"] = "no-store";
      const identity = await auth.store.oidcIdentityOf(principal.userId, oidc.config.issuer);
      return { provider: oidc.name, linked: !!identity, email: identity?.email ?? null, linkedAt: identity?.createdAt.toISOString() ?? null };
    })
    .post("/api/auth/oidc/link", async ({ principal, request, server, set }) => {
      requireSession(principal);
      const oidc = configured(auth);
      // The callback proves it is this session by its cookie; a CLI's Bearer session has none to send.
      if (!principal.viaCookie) throw new HttpError(400, "browser_required", `link your account in a browser: sign in there (warren pair, or Add a device) and use "Link to ${oidc.name}" on the dashboard`);
      if (await auth.store.oidcIdentityOf(principal.userId, oidc.config.issuer)) throw new HttpError(409, "already_linked", `your account is already linked to ${oidc.name}`);
      if (tooManyStarts(auth, request, server)) throw new HttpError(429, "rate_limited", "too many sign-ins were started from this address in the last minute; wait a minute", { "retry-after": "60" });
      try {
        const flow = await begin(auth, request, { next: "/", client: "browser", linkSessionId: principal.sessionId! });
        set.headers["set-cookie"] = flow.cookie;
        set.headers["cache-control"] = "no-store";
        return { url: flow.url };
      } catch (e) {
        if (e instanceof OidcError) throw new HttpError(e.status, "provider_unreachable", e.message);
        throw e;
      }
    })
    .post("/api/orgs/:id/invitations", async ({ principal, params, body: raw, request, server, set }) => {
      requireSession(principal);
      const body = valid(invitationBody, raw);
      const role = requireAdmin(principal, params.id, "members");
      if (body.role === "owner" && role !== "owner") throw new HttpError(403, "forbidden", "only owners can invite owners");
      const oidc = configured(auth);
      // A pending invitation is a pairing row for the email whose token nobody ever sees: it can
      // only be used up by a sign-in with the provider as that (verified) address.
      const minted = await mintPairing(auth.store, {
        userId: null,
        invite: { email: body.email, name: body.name ?? null, orgId: params.id, role: body.role },
        uses: 1,
        createdBy: principal.userId,
        ttlSeconds: body.ttlSeconds,
      });
      auth.audit.record({ action: "member.invite", actor: by(principal), org: params.id, target: { type: "invite", id: body.email, label: body.email }, detail: { role: body.role, via: "email" }, client: clientOf(auth, request, server) });
      set.status = 201;
      return { email: body.email, role: body.role, organizationId: params.id, expiresAt: minted.expiresAt.toISOString(), signInUrl: `${baseUrl(auth, request)}/pair`, provider: oidc.name };
    });

/** A sign-in through the provider that did not end in a session: never with the code or state. */
function signInFailed(auth: Auth, request: Request, server: Server<unknown> | null | undefined, reason: string, flow?: "device"): void {
  auth.audit.record({ action: "session.signin_failed", actor: { kind: "anonymous", id: null }, org: null, outcome: "failure", reason, detail: flow ? { via: "oidc", flow } : { via: "oidc" }, client: clientOf(auth, request, server) });
}

/**
 * Who may sign in, for either flow: auth.store.oidcSignIn's invitations, allowed domains, verified
 * email and group mapping, and what a change of memberships entails.
 */
async function admit(auth: Auth, request: Request, server: Server<unknown> | null | undefined, claims: Claims) {
  const oidc = auth.oidc!;
  const admission = await auth.store.oidcSignIn(
    {
      issuer: oidc.config.issuer,
      subject: claims.sub,
      email: claims.email,
      emailVerified: claims.emailVerified,
      name: claims.name ?? claims.email ?? "Unnamed",
      domainAllowed: oidc.domainAllowed(claims.email),
      mapped: oidc.mapGroups(claims.groups),
    },
    { userId: newId("usr"), identityId: newId("oid") },
    new Date(),
  );
  if (!admission.ok) return admission;
  const { userId } = admission;
  if (admission.unknownOrgs.length) auth.log?.warn("oidc group mapping names organizations that do not exist", { slugs: admission.unknownOrgs });
  if (admission.keptOwners.length) auth.log?.warn("oidc group mapping would leave an organization without an owner; kept the owner", { orgs: admission.keptOwners, userId });
  // Memberships changed: this replica forgets its cached principals of this user now, others
  // within the resolver's cache bound (SPEC §2.4 rule 5).
  auth.resolver.forget({ userId });
  for (const org of admission.changedOrgs) auth.events.publish({ topic: "members", org });
  if (admission.changedOrgs.length) auth.events.publish({ topic: "members", user: userId });
  const actor = { kind: "user" as const, id: userId, user: userId };
  for (const org of admission.changedOrgs) auth.audit.record({ action: "member.mapped", actor, org, target: { type: "user", id: userId }, detail: { source: "oidc" }, client: clientOf(auth, request, server) });
  return admission;
}

function configured(auth: Auth) {
  if (!auth.oidc) throw new HttpError(404, "no_identity_provider", "this server does not sign people in with an identity provider (warren serve --oidc-issuer)");
  return auth.oidc;
}

/**
 * The redirect to the provider and the row that awaits its answer. The browser that starts it
 * is the one that must finish it: a random value in a cookie, its hash in the row, so a callback
 * URL played into another browser finds no match.
 */
async function begin(auth: Auth, request: Request, opts: { next: string; client: "browser" | "cli"; linkSessionId: string | null }): Promise<{ url: string; cookie: string }> {
  const redirectUri = `${baseUrl(auth, request)}${CALLBACK}`;
  const flow = await auth.oidc!.authorizationUrl(redirectUri);
  const existing = readCookie(request.headers.get("cookie"), cookieName("warren_oidc", auth.config.secureCookies));
  const binding = existing && BINDING.test(existing) ? existing : newTicket();
  await auth.store.addOidcState({
    stateHash: hashToken(flow.state),
    browserHash: hashToken(binding),
    nonce: flow.nonce,
    codeVerifier: flow.codeVerifier,
    redirectUri,
    next: opts.next,
    client: opts.client,
    linkSessionId: opts.linkSessionId,
    expiresAt: new Date(Date.now() + STATE_TTL_MS),
  });
  return { url: flow.url, cookie: setCookie("warren_oidc", auth.config.secureCookies, binding, new Date(Date.now() + STATE_TTL_MS)) };
}

/**
 * The callback of a link: only the very session that started it may finish it (its cookie comes
 * back with the provider's redirect, SameSite=Lax allowing a top-level GET), checked before the
 * code is exchanged; then the provider's subject is attached to that session's user.
 */
async function link(
  auth: Auth,
  request: Request,
  server: Server<unknown> | null | undefined,
  url: URL,
  row: { state: string; nonce: string; codeVerifier: string; redirectUri: string; next: string; linkSessionId: string },
): Promise<Response> {
  const oidc = auth.oidc!;
  const r = await auth.resolver.resolve(request, () => requestIp(auth, request, server)).catch(() => null);
  if (!r?.principal.viaCookie || r.principal.sessionId !== row.linkSessionId) {
    auth.log?.warn("oidc link refused", { reason: r ? "other_session" : "signed_out" });
    auth.audit.record({ action: "session.link", actor: r ? by(r.principal) : { kind: "anonymous", id: null }, org: null, outcome: "failure", reason: r ? "other_session" : "signed_out", detail: { issuer: oidc.config.issuer }, client: clientOf(auth, request, server) });
    return page(403, "This link cannot be completed", `Linking to ${oidc.name} was started by another sign-in than the one in this browser, so nothing was linked. Sign in, then start again with "Link to ${oidc.name}" on your dashboard.`, { again: true });
  }
  const { userId } = r.principal;
  try {
    const claims = await oidc.finish(url, row);
    const result = await auth.store.oidcLink({ issuer: oidc.config.issuer, subject: claims.sub, userId, email: claims.email, emailVerified: claims.emailVerified }, newId("oid"), new Date());
    if (!result.ok) {
      auth.log?.warn("oidc link refused", { reason: result.reason, userId, issuer: oidc.config.issuer });
      auth.audit.record({ action: "session.link", actor: by(r.principal), org: r.principal.activeOrgId, target: { type: "user", id: userId }, outcome: "failure", reason: result.reason, detail: { issuer: oidc.config.issuer }, client: clientOf(auth, request, server) });
      return result.reason === "subject_taken"
        ? page(409, "That account is already linked", `The ${oidc.name} account you signed in with belongs to another Warren user, so it was not linked to yours. Sign in to ${oidc.name} as yourself and try again, or ask an admin.`, { home: true })
        : page(409, "You are already linked", `Your Warren account is already linked to another ${oidc.name} account.`, { home: true });
    }
    // The name and email on cached principals may have changed.
    auth.resolver.forget({ userId });
    auth.events.publish({ topic: "sessions", user: userId });
    auth.log?.info("oidc link", { userId, issuer: oidc.config.issuer });
    auth.audit.record({ action: "session.link", actor: by(r.principal), org: r.principal.activeOrgId, target: { type: "user", id: userId }, detail: { issuer: oidc.config.issuer }, client: clientOf(auth, request, server) });
    const headers = new Headers({ location: row.next, "cache-control": "no-store", "referrer-policy": "no-referrer" });
    headers.append("set-cookie", clearedCookie("warren_oidc", auth.config.secureCookies));
    return new Response(null, { status: 303, headers });
  } catch (e) {
    return failed(auth, e, "link");
  }
}

/** The access log reads the status from `set`; a Response returned whole does not set it. */
function logged(set: { status?: number | string }, response: Response): Response {
  set.status = response.status;
  return response;
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function failed(auth: Auth, e: unknown, step: string): Response {
  if (e instanceof OidcError) {
    auth.log?.warn("oidc sign-in failed", { step, status: e.status, reason: e.title, detail: e.detail ?? null });
    return page(e.status, e.title, e.message, { again: true });
  }
  auth.log?.error("oidc sign-in failed", { step, error: String((e as Error)?.message ?? e).slice(0, 300) });
  return page(500, "Sign-in failed", "Something went wrong on this server while signing you in. Try again; if it keeps happening, tell whoever runs it.", { again: true });
}

function refusalWords(reason: "email_unverified" | "not_invited" | "linked_elsewhere", name: string): { title: string; message: string } {
  switch (reason) {
    case "email_unverified":
      return { title: "Your email address is not verified", message: `${name} does not vouch for your email address (it is missing or not verified), so Warren cannot tell who you are. Verify it with ${name}, then try again.` };
    case "not_invited":
      return { title: "You have not been invited", message: `You signed in with ${name}, but this Warren server lets people in the first time only with an invitation for their email address or from an allowed email domain. Ask an owner or admin to invite you (Add a person, with your email), then try again.` };
    case "linked_elsewhere":
      return { title: "This email is already linked", message: `The Warren account with this email address signs in with another ${name} account. Sign in with that one, or ask an admin for help.` };
  }
}

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A page in the style of the others (no script: none is needed to read a sentence). */
function page(status: number, title: string, message: string, opts: { again?: boolean; home?: boolean; html?: string } = {}): Response {
  const body =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<link rel="icon" href="data:,"><title>${escape(title)} · Warren</title><link rel="stylesheet" href="/assets/style.css"></head>` +
    `<body><main class="card" aria-labelledby="title"><p class="brand">Warren</p><h1 id="title">${escape(title)}</h1>` +
    `<p id="message" role="${status >= 400 ? "alert" : "status"}">${escape(message)}</p>${opts.html ?? ""}` +
    (opts.home ? `<p><a href="/">Back to the dashboard</a></p>` : opts.again || status >= 400 ? `<p><a href="/pair">Back to sign-in</a></p>` : "") +
    `</main></body></html>`;
  return new Response(body, { status, headers: { ...SECURITY_HEADERS, "content-type": "text/html; charset=utf-8", "cache-control": "no-store" } });
}

/** The CLI's one-use code: a pairing token for the signed-in user, shown once and never logged. */
function codePage(token: string, minutes: number): Response {
  return page(200, "Signed in: now finish in your terminal", `Paste this code where warren auth login asks for it. It works once, within ${minutes} minutes.`, {
    html: `<p><code id="code">${escape(token)}</code></p><p class="hint">Nothing else to do here: you can close this tab.</p>`,
  });
}
