// OpenID Providers for the OIDC tests: a real one (oidc-provider, OpenID Certified, on 127.0.0.1
// port 0) whose accounts the test edits between sign-ins, and a tiny fake one that mints the ID
// tokens a real provider never would (expired, signed with a key it does not publish).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";
import type { Page } from "playwright-core";

export const CLIENT_ID = "warren-test";
export const CLIENT_SECRET = "test-client-secret-0123456789abcdef";

export interface Account {
  email: string;
  email_verified: boolean;
  name?: string;
  groups?: string[];
}

export interface TestProvider {
  issuer: string;
  /** login → claims; edit between sign-ins (groups that change, a new account). */
  accounts: Map<string, Account>;
  /** Authorization and device codes the provider issued (so tests can prove none reached Warren's log). */
  codes: string[];
  /** While true, every connection is dropped at once: the provider is unreachable. */
  down: boolean;
  /**
   * While true, only what Warren itself calls (token, userinfo, JWKS) is dropped: the browser
   * still reaches the login pages, and the provider is gone by the time Warren needs it.
   */
  backchannelDown: boolean;
  close(): Promise<void>;
}

function listen(server: Server): Promise<number> {
  return new Promise((done) => server.listen(0, "127.0.0.1", () => done((server.address() as AddressInfo).port)));
}

/** oidc-provider with dev interactions (any login, any password) and a consent-free grant. */
export async function startProvider(): Promise<TestProvider> {
  const { default: Provider } = await import("oidc-provider");
  const accounts = new Map<string, Account>();
  const codes: string[] = [];
  let handler: ((req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void) | null = null;
  const server = createServer((req, res) => handler!(req, res));
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        // native: any port on a loopback redirect URI is allowed (RFC 8252), so the test need not
        // know Warren's port before the provider starts.
        application_type: "native",
        redirect_uris: ["http://127.0.0.1/api/auth/oidc/callback"],
        // Single sign-out comes back to Warren's sign-in page (any loopback port, as above).
        post_logout_redirect_uris: ["http://127.0.0.1/pair"],
        grant_types: ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"],
        response_types: ["code"],
      },
    ],
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
    scopes: ["openid", "email", "profile", "groups"],
    features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
    async findAccount(_ctx, id) {
      const account = accounts.get(id);
      if (!account) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...account, name: account.name ?? id }) };
    },
    cookies: { keys: ["test-cookie-key-0123456789"] },
  });
  provider.on("grant.success", (ctx) => {
    const code = (ctx.oidc.entities as { AuthorizationCode?: { jti: string } }).AuthorizationCode?.jti;
    if (code) codes.push(code);
  });
  provider.on("authorization.success", (ctx) => {
    const location = String(ctx.response.get("location") ?? "");
    const code = /[?&]code=([^&]+)/.exec(location)?.[1];
    if (code) codes.push(decodeURIComponent(code));
  });
  provider.on("device_authorization.success", (ctx) => void codes.push((ctx as unknown as { body: { device_code: string } }).body.device_code));
  const callback = provider.callback();
  const result: TestProvider = {
    issuer,
    accounts,
    codes,
    down: false,
    backchannelDown: false,
    close: () =>
      new Promise((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
  const backchannel = /^\/(token|me|jwks|device\/auth)\b/;
  handler = (req, res) => (result.down || (result.backchannelDown && backchannel.test(req.url ?? "")) ? req.socket.destroy() : void callback(req, res));
  return result;
}

/**
 * Goes through oidc-provider's dev interaction pages as `login` (any password): the login form
 * when the provider has no session for this browser, then the consent form — until it sends the
 * browser back to the client.
 */
export async function providerLogin(page: Page, login: string): Promise<void> {
  await page.waitForLoadState();
  for (let step = 0; step < 4 && page.url().includes("/interaction/"); step++) {
    const before = page.url();
    const field = page.locator('input[name="login"]');
    if (await field.count()) {
      await field.fill(login);
      await page.locator('input[name="password"]').fill("any password");
    }
    await page.locator("button[type=submit]").first().click();
    await page.waitForURL((u) => u.href !== before);
    await page.waitForLoadState();
  }
}

/**
 * The person's side of a device sign-in at oidc-provider: its page for the user code, the
 * confirmation (or its Abort, which denies the request), then the login and consent forms, until
 * the provider says it is done.
 */
export async function providerDeviceLogin(page: Page, verificationUri: string, userCode: string, login: string, opts: { abort?: boolean } = {}): Promise<void> {
  await page.goto(verificationUri);
  await page.locator('input[name="user_code"]').fill(userCode);
  await page.locator('button[type=submit][form="op.deviceInputForm"]').click();
  const confirm = page.locator('button[form="op.deviceConfirmForm"]');
  await confirm.first().waitFor();
  if (opts.abort) {
    await page.locator('button[name="abort"]').click();
    await page.waitForLoadState();
    return;
  }
  await page.locator('button[autofocus][form="op.deviceConfirmForm"]').click();
  await page.waitForURL((u) => u.pathname.includes("/interaction/"));
  await providerLogin(page, login);
  await page.waitForFunction(() => document.title === "Sign-in Success");
}

export type FakeMode = "expired" | "wrong-key" | "ok";

/**
 * A minimal OpenID Provider (discovery, authorize that approves at once, token, JWKS, userinfo)
 * whose ID tokens are what `mode` says: what a broken or hostile provider would send.
 */
export async function startFakeProvider(account: Account & { sub: string }) {
  const good = await generateKeyPair("RS256");
  const bad = await generateKeyPair("RS256");
  const jwk: JWK = { ...(await exportJWK(good.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  const pending = new Map<string, { nonce: string; clientId: string }>();
  const state = { mode: "ok" as FakeMode, codes: [] as string[] };
  let issuer = "";
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      switch (url.pathname) {
        case "/.well-known/openid-configuration":
          return Response.json({
            issuer,
            authorization_endpoint: `${issuer}/authorize`,
            token_endpoint: `${issuer}/token`,
            jwks_uri: `${issuer}/jwks`,
            userinfo_endpoint: `${issuer}/userinfo`,
            response_types_supported: ["code"],
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ["RS256"],
            code_challenge_methods_supported: ["S256"],
            token_endpoint_auth_methods_supported: ["client_secret_basic"],
          });
        case "/authorize": {
          const code = crypto.randomUUID();
          state.codes.push(code);
          pending.set(code, { nonce: url.searchParams.get("nonce") ?? "", clientId: url.searchParams.get("client_id") ?? "" });
          const back = new URL(url.searchParams.get("redirect_uri")!);
          back.searchParams.set("code", code);
          back.searchParams.set("state", url.searchParams.get("state") ?? "");
          return Response.redirect(back.toString(), 302);
        }
        case "/token": {
          const code = new URLSearchParams(await req.text()).get("code") ?? "";
          const p = pending.get(code);
          pending.delete(code);
          if (!p) return Response.json({ error: "invalid_grant" }, { status: 400 });
          const now = Math.floor(Date.now() / 1000);
          const [iat, exp] = state.mode === "expired" ? [now - 7200, now - 3600] : [now, now + 600];
          const idToken = await new SignJWT({ nonce: p.nonce, email: account.email, email_verified: account.email_verified, name: account.name })
            .setProtectedHeader({ alg: "RS256", kid: "k1" })
            .setIssuer(issuer)
            .setSubject(account.sub)
            .setAudience(p.clientId)
            .setIssuedAt(iat)
            .setExpirationTime(exp)
            .sign(state.mode === "wrong-key" ? bad.privateKey : good.privateKey);
          return Response.json({ access_token: crypto.randomUUID(), token_type: "Bearer", expires_in: 600, id_token: idToken });
        }
        case "/jwks":
          return Response.json({ keys: [jwk] });
        case "/userinfo":
          return Response.json({ sub: account.sub, email: account.email, email_verified: account.email_verified });
      }
      return new Response("not found", { status: 404 });
    },
  });
  issuer = `http://127.0.0.1:${server.port}`;
  return { issuer, state, stop: () => server.stop(true) };
}
