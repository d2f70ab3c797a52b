// The OpenID Connect provider, as a client of it (oauth4webapi does the protocol): discovery,
// the authorization request (code + PKCE S256 + state + nonce) and the code exchange — or, for
// `warren auth login`, the device authorization grant (RFC 8628) — whose ID token is checked for issuer, audience, expiry, nonce and — although it came straight from the
// token endpoint — its signature against the provider's JWKS. Who may then sign in is
// auth.store.oidcSignIn's business; the routes are oidc-routes.ts.
//
// A provider that is down must not keep Warren down: discovery at start runs in the background,
// a failure is one warning in the log, and it is tried again every 30 s and whenever someone asks
// (the sign-in page, the start of a sign-in), so sign-in works again once the provider answers.
import * as oauth from "oauth4webapi";
import type { OidcConfig } from "../config";
import type { Logger } from "../log";
import type { Role } from "./store";

const DISCOVERY_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const RETRY_MS = 30_000;
/** A page asking "is the provider up?" over and over costs the provider one request this often. */
const ASK_AGAIN_MS = 2_000;

/** Why a sign-in went wrong, in words for the page; `status` is the page's HTTP status. */
export class OidcError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    /** For the log: never a token or code. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

export interface Claims {
  sub: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  groups: string[];
}

export class Oidc {
  private as: oauth.AuthorizationServer | null = null;
  private lastAsked = 0;
  private asking: Promise<oauth.AuthorizationServer | null> | null = null;
  private failing = false;
  private retry: ReturnType<typeof setInterval> | undefined;
  private readonly jwks: oauth.JWKSCacheInput = {} as oauth.JWKSCacheInput;
  private readonly client: oauth.Client;
  private readonly clientAuth: oauth.ClientAuth;
  /** oauth4webapi refuses plain http unless told; config.ts allows it only on loopback. */
  private readonly insecure: boolean;

  constructor(
    readonly config: OidcConfig,
    private log: Logger,
  ) {
    this.client = { client_id: config.clientId };
    this.clientAuth = config.clientSecret ? oauth.ClientSecretBasic(config.clientSecret) : oauth.None();
    this.insecure = new URL(config.issuer).protocol === "http:";
  }

  get name(): string {
    return this.config.name;
  }

  /** Discovers in the background now and every 30 s until it works. */
  start(): void {
    void this.discover();
    this.retry = setInterval(() => void (this.as ? undefined : this.discover()), RETRY_MS);
    this.retry.unref();
  }

  stop(): void {
    clearInterval(this.retry);
  }

  /** The provider's metadata, asked again unless asked within the last 2 s; null while unreachable. */
  async ready(): Promise<oauth.AuthorizationServer | null> {
    if (Date.now() - this.lastAsked < ASK_AGAIN_MS) return this.asking ? await this.asking : this.failing ? null : this.as;
    return await this.discover();
  }

  private discover(): Promise<oauth.AuthorizationServer | null> {
    return (this.asking ??= (async () => {
      this.lastAsked = Date.now();
      const issuer = new URL(this.config.issuer);
      try {
        const response = await oauth.discoveryRequest(issuer, { ...this.options(DISCOVERY_TIMEOUT_MS), algorithm: "oidc" });
        const as = await oauth.processDiscoveryResponse(issuer, response);
        if (!as.authorization_endpoint || !as.token_endpoint || !as.jwks_uri) throw new Error("its discovery document lacks an authorization, token or JWKS endpoint");
        if (this.failing || !this.as) this.log.info("oidc provider discovered", { issuer: this.config.issuer });
        this.as = as;
        this.failing = false;
        return as;
      } catch (e) {
        // One warning per outage, not one per retry.
        if (!this.failing) {
          this.log.warn(`oidc provider ${this.config.issuer} cannot be reached; "Sign in with ${this.config.name}" is off until it answers (pairing links still work); retrying`, {
            issuer: this.config.issuer,
            error: describe(e),
          });
        }
        this.failing = true;
        return null;
      } finally {
        this.asking = null;
      }
    })());
  }

  /** Where to send the browser, and what to keep for its return. */
  async authorizationUrl(redirectUri: string): Promise<{ url: string; state: string; nonce: string; codeVerifier: string }> {
    const as = await this.ready();
    if (!as) throw this.unreachable();
    const codeVerifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    const url = new URL(as.authorization_endpoint!);
    url.searchParams.set("client_id", this.config.clientId);
    url.searchParams.set("redirect_uri", redirectUri);
    url.searchParams.set("response_type", "code");
    url.searchParams.set("scope", this.config.scopes.join(" "));
    url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(codeVerifier));
    url.searchParams.set("code_challenge_method", "S256");
    url.searchParams.set("state", state);
    url.searchParams.set("nonce", nonce);
    return { url: url.href, state, nonce, codeVerifier };
  }

  /**
   * The callback: the provider's answer checked against the state we sent, the code exchanged
   * (with the PKCE verifier), the ID token verified, userinfo merged in. Throws OidcError.
   */
  async finish(callback: URL, expected: { state: string; nonce: string; codeVerifier: string; redirectUri: string }): Promise<Claims> {
    const as = this.as ?? (await this.ready());
    if (!as) throw this.unreachable();
    let params: URLSearchParams;
    try {
      params = oauth.validateAuthResponse(as, this.client, callback.searchParams, expected.state);
    } catch (e) {
      if (e instanceof oauth.AuthorizationResponseError) {
        const why = e.error === "access_denied" ? "The sign-in was cancelled or refused at the provider." : `The provider said: ${e.error_description ?? e.error}.`;
        throw new OidcError(400, `${this.name} did not sign you in`, why, `authorization error ${e.error}`);
      }
      throw new OidcError(400, "This sign-in cannot be completed", "The provider's answer did not match the sign-in this browser started. Start again.", describe(e));
    }
    try {
      const opts = this.options(REQUEST_TIMEOUT_MS);
      const response = await oauth.authorizationCodeGrantRequest(as, this.client, this.clientAuth, params, expected.redirectUri, expected.codeVerifier, opts);
      const result = await oauth.processAuthorizationCodeResponse(as, this.client, response, { expectedNonce: expected.nonce, requireIdToken: true });
      return await this.identify(as, response, result, opts);
    } catch (e) {
      throw this.tokenFailure(e, "the link may have been used already or have expired. Start again.");
    }
  }

  /** Whether the provider (as last discovered) offers the device authorization grant (RFC 8628). */
  get device(): boolean {
    return !!this.as?.device_authorization_endpoint;
  }

  /** Asks the provider for a device code and the user code a person enters at its verification page. */
  async startDevice(): Promise<oauth.DeviceAuthorizationResponse> {
    const as = await this.ready();
    if (!as) throw this.unreachable();
    if (!as.device_authorization_endpoint) throw new OidcError(404, "No device sign-in", `${this.name} does not offer the device authorization grant.`);
    try {
      const response = await oauth.deviceAuthorizationRequest(as, this.client, this.clientAuth, { scope: this.config.scopes.join(" ") }, this.options(REQUEST_TIMEOUT_MS));
      return await oauth.processDeviceAuthorizationResponse(as, this.client, response);
    } catch (e) {
      if (e instanceof oauth.ResponseBodyError) {
        // Typically unauthorized_client: the grant is not enabled for this client at the provider.
        throw new OidcError(400, "No device sign-in", `${this.name} refused a device sign-in for this server's client (${e.error}); its administrator may need to enable the device authorization grant for it.`, `device authorization: ${e.error}`);
      }
      if (isNetworkError(e)) throw this.unreachable(describe(e));
      throw new OidcError(502, "No device sign-in", `${this.name} answered the device sign-in request with something Warren does not understand.`, describe(e));
    }
  }

  /**
   * One poll of the token endpoint for a device code: still waiting, asked to slow down, refused
   * by the person, expired, or the claims of a verified ID token (no nonce: the device grant has
   * none). Throws OidcError.
   */
  async pollDevice(deviceCode: string): Promise<{ status: "pending" | "slow_down" | "denied" | "expired" } | { status: "approved"; claims: Claims }> {
    const as = this.as ?? (await this.ready());
    if (!as) throw this.unreachable();
    try {
      const opts = this.options(REQUEST_TIMEOUT_MS);
      const response = await oauth.deviceCodeGrantRequest(as, this.client, this.clientAuth, deviceCode, opts);
      const result = await oauth.processDeviceCodeResponse(as, this.client, response);
      return { status: "approved", claims: await this.identify(as, response, result, opts) };
    } catch (e) {
      if (e instanceof oauth.ResponseBodyError) {
        if (e.error === "authorization_pending") return { status: "pending" };
        if (e.error === "slow_down") return { status: "slow_down" };
        if (e.error === "access_denied") return { status: "denied" };
        if (e.error === "expired_token") return { status: "expired" };
      }
      throw this.tokenFailure(e, "the sign-in may have been used already or have expired. Start again.");
    }
  }

  /**
   * The ID token of a token response, checked (oauth4webapi has checked issuer, audience and
   * expiry), with userinfo merged in.
   */
  private async identify(as: oauth.AuthorizationServer, response: Response, result: oauth.TokenEndpointResponse, opts: ReturnType<Oidc["options"]>): Promise<Claims> {
    const id = oauth.getValidatedIdTokenClaims(result);
    if (!id) throw new oauth.UnsupportedOperationError("the token response has no ID token", { cause: result });
    // Not required for a token from the token endpoint over TLS, but the ID token is what lets
    // someone in: check it was signed by a key the provider publishes.
    await oauth.validateApplicationLevelSignature(as, response, { ...opts, [oauth.jwksCache]: this.jwks });
    let claims: Record<string, unknown> = { ...id };
    if (as.userinfo_endpoint) {
      const info = await oauth.processUserInfoResponse(as, this.client, id.sub, await oauth.userInfoRequest(as, this.client, result.access_token, opts));
      claims = { ...info, ...id };
    }
    return this.claims(claims);
  }

  /** A failed exchange at the token endpoint, in words. */
  private tokenFailure(e: unknown, again: string): unknown {
    if (e instanceof OidcError) return e;
    if (e instanceof oauth.ResponseBodyError) {
      return new OidcError(400, "This sign-in cannot be completed", `${this.name} refused to complete it (${e.error}): ${again}`, `token endpoint: ${e.error}`);
    }
    if (e instanceof oauth.OperationProcessingError || e instanceof oauth.UnsupportedOperationError) {
      return new OidcError(
        502,
        "The identity token was not accepted",
        `The ID token from ${this.name} did not check out (expired, not signed by the provider's keys, or not meant for this server), so Warren did not sign you in. If this keeps happening, tell whoever runs this server.`,
        describe(e),
      );
    }
    if (isNetworkError(e)) return this.unreachable(describe(e));
    return e;
  }

  /**
   * RP-initiated logout: where a browser signing out goes next, so that it signs out at the
   * provider too and comes back to `returnTo`; null when the provider has no end_session_endpoint.
   * It names the client rather than passing id_token_hint (OpenID Connect RP-Initiated Logout
   * allows either): keeping ID tokens would put more than hashes in the database.
   */
  endSessionUrl(returnTo: string): string | null {
    const endpoint = this.as?.end_session_endpoint;
    if (!endpoint) return null;
    const url = new URL(endpoint);
    url.searchParams.set("client_id", this.config.clientId);
    url.searchParams.set("post_logout_redirect_uri", returnTo);
    return url.href;
  }

  /** The groups claim → org slug → role: the highest role any of the user's groups gives. */
  mapGroups(groups: string[]): Record<string, Role> | null {
    if (this.config.groupMap.length === 0) return null;
    const rank = { member: 0, admin: 1, owner: 2 } as const;
    const out: Record<string, Role> = {};
    for (const m of this.config.groupMap) {
      if (!groups.includes(m.group)) continue;
      const had = out[m.orgSlug];
      if (had === undefined || rank[m.role] > rank[had]) out[m.orgSlug] = m.role;
    }
    return out;
  }

  domainAllowed(email: string | null): boolean {
    const domain = email?.split("@").pop();
    return !!domain && this.config.allowDomains.includes(domain);
  }

  private claims(c: Record<string, unknown>): Claims {
    const email = typeof c.email === "string" && c.email.includes("@") ? c.email.trim().toLowerCase() : null;
    // Some providers send "true" as a string.
    const emailVerified = c.email_verified === true || c.email_verified === "true";
    const name = typeof c.name === "string" && c.name.trim() ? c.name.trim().slice(0, 100) : typeof c.preferred_username === "string" ? c.preferred_username.slice(0, 100) : null;
    const raw = this.config.groupsClaim ? c[this.config.groupsClaim] : undefined;
    const groups = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === "string") : typeof raw === "string" ? [raw] : [];
    return { sub: String(c.sub), email, emailVerified, name, groups };
  }

  private unreachable(detail?: string): OidcError {
    return new OidcError(
      503,
      `${this.name} cannot be reached`,
      `Warren could not reach ${this.name} (${new URL(this.config.issuer).host}) to sign you in. Try again in a moment, or sign in with a pairing link.`,
      detail,
    );
  }

  private options(timeoutMs: number) {
    return { signal: AbortSignal.timeout(timeoutMs), ...(this.insecure ? { [oauth.allowInsecureRequests]: true } : {}) };
  }
}

function isNetworkError(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? "";
  if (/^(ERR_|OAUTH_)/.test(code)) return false;
  return e instanceof TypeError || /ECONN|ENOTFOUND|EAI_|ConnectionRefused|ConnectionClosed|FailedToOpenSocket|Timeout|ETIMEDOUT|ECONNRESET/i.test(code) || (e as Error)?.name === "TimeoutError" || (e as Error)?.name === "AbortError";
}

/** An error in a few words for the log: a message and code, never a response body. */
function describe(e: unknown): string {
  const err = e as { message?: string; code?: string; cause?: { code?: string } };
  return [err.code, err.message ?? String(e)].filter(Boolean).join(": ").slice(0, 300);
}
