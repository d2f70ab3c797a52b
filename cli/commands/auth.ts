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
    summary: "Sign this machine in with a pairing link.",
    usage: "warren auth login <pairing link | server url> [--json]",
    flags: {
      "device-name": { type: "string", value: "name", help: "How this machine is listed in your sessions (default: its hostname)" },
      json: { type: "boolean", help: "Print who signed in, where and until when as JSON (never the session token)" },
    },
    details: `Give the link from \`warren serve\` (first start), \`warren pair\` or the web app's "add a device".
With only a server URL the pairing token is read from stdin. The session is stored 0600 in
~/.warren/logins.json (WARREN_HOME moves it), one per server.`,
  },
  async run(flags, positionals) {
    const [target] = positionals;
    if (!target || positionals.length > 1) throw new UsageError("give exactly one pairing link or server URL", "auth login");
    const server = normalizeServer(target);
    const token = /#token=([A-Za-z0-9_-]+)/.exec(target)?.[1] ?? (await readTokenFromStdin());
    const c = client({ server });
    const r = await c.request("POST", "/api/auth/pair", { token, client: "cli", deviceName: (flags["device-name"] as string | undefined) ?? `warren CLI on ${hostname()}` });
    if (!r.ok) throw new ClientError(`pairing failed: ${await describeFailure(r, server)}`);
    const { sessionToken, expiresAt } = (await r.json()) as { sessionToken: string; expiresAt: string };
    saveLogin({ server, sessionToken, expiresAt });
    const me = await client({ server }).json<SessionInfo>("GET", "/api/auth/session");
    if (flags.json) console.log(JSON.stringify({ server, expiresAt, user: me.user, organizations: me.organizations, activeOrganizationId: me.activeOrganizationId }));
    else console.log(`signed in to ${server} as ${who(me)}; the session lasts until ${expiresAt} while in use`);
    return 0;
  },
};

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

async function readTokenFromStdin(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write("pairing token: ");
  for await (const line of console) {
    const token = line.trim();
    if (token) return token.replace(/^.*#token=/, "");
  }
  throw new UsageError("no pairing token: give the whole link, or the token on stdin", "auth login");
}
