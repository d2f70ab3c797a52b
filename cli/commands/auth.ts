// warren auth login | check | logout — a CLI session of your own on a Warren server.
import { hostname } from "node:os";
import type { Command } from "../command";
import { ClientError, client, clientFlags, describeFailure, forgetLogin, normalizeServer, saveLogin } from "../client";
import { UsageError } from "../flags";

interface SessionInfo {
  authenticated: boolean;
  user?: { id: string; email: string | null; name: string | null };
  organizations?: { id: string; slug: string; name: string; role: string }[];
  activeOrganizationId?: string | null;
  method?: string;
  apiKey?: { id: string; name: string; prefix: string };
  expiresAt?: string | null;
}

export const login: Command = {
  spec: {
    name: "auth login",
    summary: "Sign this machine in: with a pairing link, or through the server's identity provider.",
    usage: "warren auth login <pairing link | server url> [--json]\n       warren auth login --server <url> [--no-device] [--json]",
    flags: {
      server: { type: "string", value: "url", env: "WARREN_SERVER", help: "The server to sign in to, when no link is given" },
      "device-name": { type: "string", value: "name", help: "How this machine is listed in your sessions (default: its hostname)" },
      "no-device": { type: "boolean", help: "With an identity provider, sign in by link and one-use code even when it offers the device flow" },
      json: { type: "boolean", help: "Print who signed in, where and until when as JSON (never the session token)" },
    },
    details: `Give the link from \`warren serve\` (first start), \`warren pair\` or the web app's "add a device".
With only a server URL, when the server signs people in with an identity provider (OpenID
Connect, docs/oidc.md): if the provider offers the device authorization flow, it prints a page
and a short code to enter there, in any browser on any machine, and waits until you approve;
otherwise (or with --no-device) it prints a link to open in any browser and reads the one-use
code that page shows. Without a provider it reads a pairing token. Codes and tokens are read
from stdin. The session is stored 0600 in ~/.warren/logins.json (WARREN_HOME moves it), one per
server.`,
  },
  async run(flags, positionals) {
    const [target] = positionals;
    if (positionals.length > 1) throw new UsageError("give exactly one pairing link or server URL", "auth login");
    const given = target ?? (flags.server as string | undefined);
    if (!given) throw new UsageError("give a pairing link, or the server to sign in to (--server URL)", "auth login");
    const server = normalizeServer(given);
    const deviceName = (flags["device-name"] as string | undefined) ?? `warren CLI on ${hostname()}`;
    const linked = target && /#token=([A-Za-z0-9_-]+)/.exec(target)?.[1];
    let session: { sessionToken: string; expiresAt: string } | null = null;
    if (!linked) {
      const oidc = await providerOf(server);
      if (oidc?.enabled && oidc.ready && oidc.device && !flags["no-device"]) session = await deviceLogin(server, oidc.name!, deviceName);
      session ??= await pairWith(server, await askForCode(server, oidc), deviceName);
    } else session = await pairWith(server, linked, deviceName);
    const { sessionToken, expiresAt } = session;
    saveLogin({ server, sessionToken, expiresAt });
    const me = await client({ server }).json<SessionInfo>("GET", "/api/auth/session");
    if (flags.json) console.log(JSON.stringify({ server, expiresAt, user: me.user, organizations: me.organizations, activeOrganizationId: me.activeOrganizationId }));
    else console.log(`signed in to ${server} as ${who(me)}; the session lasts until ${expiresAt} while in use`);
    return 0;
  },
};

interface Provider {
  enabled?: boolean;
  name?: string;
  ready?: boolean;
  startUrl?: string;
  device?: boolean;
}

async function providerOf(server: string): Promise<Provider | null> {
  return (await fetch(`${server}/api/auth/oidc`, { signal: AbortSignal.timeout(15_000) })
    .then((r) => (r.ok ? r.json() : null))
    .catch(() => null)) as Provider | null;
}

async function pairWith(server: string, token: string, deviceName: string): Promise<{ sessionToken: string; expiresAt: string }> {
  const r = await client({ server }).request("POST", "/api/auth/pair", { token, client: "cli", deviceName });
  if (!r.ok) throw new ClientError(`pairing failed: ${await describeFailure(r, server)}`);
  return (await r.json()) as { sessionToken: string; expiresAt: string };
}

/**
 * The device authorization flow (RFC 8628), through the server, which holds the client secret and
 * the device code: the person enters a short code at the provider's page, anywhere, while this
 * polls the server with a handle. Null when the provider will not start one for this server's
 * client (the grant not enabled there): the link and one-use code still work.
 */
async function deviceLogin(server: string, name: string, deviceName: string): Promise<{ sessionToken: string; expiresAt: string } | null> {
  const c = client({ server });
  const started = await c.request("POST", "/api/auth/oidc/device", { deviceName });
  if (!started.ok) {
    const why = await describeFailure(started, server);
    if (started.status === 429 || started.status === 503) throw new ClientError(`sign-in with ${name} failed: ${why}`);
    process.stderr.write(`${name} will not start a device sign-in (${why}); signing in by link instead.\n`);
    return null;
  }
  const grant = (await started.json()) as { userCode: string; verificationUri: string; verificationUriComplete: string | null; interval: number; expiresIn: number; handle: string };
  process.stderr.write(
    `Sign in with ${name}: open ${grant.verificationUri} in any browser and enter the code ${grant.userCode}\n` +
      (grant.verificationUriComplete ? `(or open ${grant.verificationUriComplete}, which has the code in it)\n` : "") +
      `\nWaiting for you to approve`,
  );
  let interval = grant.interval;
  const until = Date.now() + grant.expiresIn * 1000;
  while (Date.now() < until) {
    await Bun.sleep(interval * 1000);
    const r = await c.request("POST", "/api/auth/oidc/device/poll", { handle: grant.handle });
    if (r.status === 202) {
      interval = ((await r.json()) as { interval: number }).interval;
      process.stderr.write(".");
      continue;
    }
    process.stderr.write("\n");
    if (!r.ok) throw new ClientError(`sign-in with ${name} failed: ${await describeFailure(r, server)}`);
    return (await r.json()) as { sessionToken: string; expiresAt: string };
  }
  process.stderr.write("\n");
  throw new ClientError(`the code was not entered at ${name} in time; run warren auth login again`);
}

/**
 * No token in hand: with an identity provider, a link to sign in with in a browser (anywhere)
 * whose page shows a one-use code — a pairing token, never in any URL — that the person pastes
 * here; the fallback when the provider offers no device flow.
 */
async function askForCode(server: string, oidc: Provider | null): Promise<string> {
  if (oidc?.enabled && oidc.ready) {
    process.stderr.write(`Open this link in a browser and sign in with ${oidc.name}:\n\n  ${server}${oidc.startUrl}?client=cli\n\nthen paste the code the page shows.\n`);
    return await readTokenFromStdin("code");
  }
  if (oidc?.enabled) process.stderr.write(`${oidc.name} cannot be reached by ${server} right now; sign in with a pairing link instead.\n`);
  return await readTokenFromStdin("pairing token");
}

export const check: Command = {
  spec: {
    name: "auth check",
    summary: "Show who you are signed in as, your organizations and the session's expiry.",
    usage: "warren auth check [--json] [--server url] [--api-key key]",
    flags: { ...clientFlags, json: { type: "boolean", help: "Print as JSON" } },
  },
  async run(flags) {
    const c = client(flags);
    if (c.credential === "none") throw new ClientError(`not signed in to ${c.server}; run: warren auth login <pairing link>`);
    const me = await c.json<SessionInfo>("GET", "/api/auth/session");
    if (flags.json) {
      console.log(JSON.stringify({ server: c.server, ...me }));
      return 0;
    }
    console.log(`server:  ${c.server}`);
    console.log(`user:    ${who(me)} (${me.user?.id})`);
    const via = me.apiKey ? `API key "${me.apiKey.name}" (sk_live_${me.apiKey.prefix}…, ${me.apiKey.id}), bound to this organization only` : me.method;
    console.log(`via:     ${via}${me.expiresAt ? `, expires ${me.expiresAt}` : ""}`);
    for (const o of me.organizations ?? []) console.log(`org:     ${o.slug} — ${o.name} (${o.role})${o.id === me.activeOrganizationId ? " [active]" : ""}`);
    return 0;
  },
};

export const logout: Command = {
  spec: {
    name: "auth logout",
    summary: "Revoke this machine's session on the server and forget it here.",
    usage: "warren auth logout [--server url]",
    flags: { server: clientFlags.server! },
  },
  async run(flags) {
    const c = client(flags);
    if (c.credential !== "session") throw new ClientError(`not signed in to ${c.server}`);
    const r = await c.request("POST", "/api/auth/sign-out");
    forgetLogin(c.server);
    // Forgotten locally either way; a 401 only means the server had already revoked it.
    if (!r.ok && r.status !== 401) throw new ClientError(`signed out locally, but the server said: ${await describeFailure(r, c.server)}`);
    console.log(`signed out of ${c.server}`);
    return 0;
  },
};

function who(me: SessionInfo): string {
  return me.user?.email ? `${me.user.name} <${me.user.email}>` : (me.user?.name ?? "?");
}

async function readTokenFromStdin(what: string): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(`${what}: `);
  for await (const line of console) {
    const token = line.trim();
    if (token) return token.replace(/^.*#token=/, "");
  }
  throw new UsageError(`no ${what}: give the whole link, or the ${what} on stdin`, "auth login");
}
