import { DEFAULT_PORT, resolveServeConfig, startServer } from "../../server";
import type { Command } from "../command";

export const serve: Command = {
  spec: {
    name: "serve",
    summary: "Run the Warren server: auth, streams, relay and terminals in one process.",
    usage: "warren serve [flags]",
    flags: {
      port: { type: "string", value: "port", env: "WARREN_PORT", default: String(DEFAULT_PORT), help: "Port to listen on; 0 picks a free one" },
      host: { type: "string", value: "addr", env: "WARREN_HOST", default: "127.0.0.1", help: "Address to bind; non-loopback needs --public-url https://… or --insecure" },
      "data-dir": { type: "string", value: "dir", env: "WARREN_DATA_DIR", default: "~/.warren", help: "Where the database (SQLite), secret and state live" },
      "database-url": { type: "string", value: "url", env: "WARREN_DATABASE_URL", help: "postgres://… to use Postgres instead of the embedded SQLite" },
      "public-url": { type: "string", value: "url", env: "WARREN_PUBLIC_URL", help: "The https:// origin users reach this server by" },
      "long-poll-timeout": { type: "string", value: "duration", env: "WARREN_LONG_POLL_TIMEOUT", default: "30s", help: "How long a live stream read waits for data" },
      "sse-connection": { type: "string", value: "duration", env: "WARREN_SSE_CONNECTION", default: "60s", help: "How long one SSE response of a stream lasts; clients reconnect from their offset" },
      "bootstrap-token": { type: "string", value: "token", env: "WARREN_BOOTSTRAP_TOKEN", help: "A one-time pairing token for the owner, for scripted setups" },
      "tls-cert": { type: "string", value: "file", env: "WARREN_TLS_CERT", help: "Serve HTTPS with this PEM certificate (chain); SIGHUP reloads it without dropping connections" },
      "tls-key": { type: "string", value: "file", env: "WARREN_TLS_KEY", help: "The PEM private key of --tls-cert" },
      insecure: { type: "boolean", env: "WARREN_INSECURE", help: "Allow plain HTTP on a non-loopback address (warns on every start)" },
      "no-browser": { type: "boolean", env: "WARREN_NO_BROWSER", help: "Do not open a browser on first start" },
      "webhook-allow": { type: "list", value: "host", env: "WARREN_WEBHOOK_ALLOW", help: "A host stream webhooks may call (host, host:port or *.domain); repeatable. Default: loopback only on a loopback server, none otherwise" },
      "trusted-proxy": { type: "list", value: "ip", env: "WARREN_TRUSTED_PROXY", help: "A reverse proxy whose X-Forwarded-For is believed; repeatable (env: comma-separated)" },
      "local-host": { type: "boolean", env: "WARREN_LOCAL_HOST", help: "Offer terminals on this machine under the remote policy too (always on under loopback)" },
      "terminal-idle": { type: "string", value: "duration", env: "WARREN_TERMINAL_IDLE", default: "1h", help: "End a terminal nobody has been attached to for this long" },
      "terminal-stall": { type: "string", value: "duration", env: "WARREN_TERMINAL_STALL", default: "30s", help: "A client that has not acked output for this long stops pausing the program (it skips ahead instead)" },
      "relay-heartbeat": { type: "string", value: "duration", env: "WARREN_RELAY_HEARTBEAT", default: "15s", help: "How often hosts are pinged; three missed answers drop one" },
      "jwt-lifetime": { type: "string", value: "duration", env: "WARREN_JWT_LIFETIME", default: "15m", help: "How long JWTs from /api/auth/token last (at most 15m); hosts refresh theirs in place" },
      "apps-url": { type: "string", value: "url", env: "WARREN_APPS_URL", help: "Where apps on hosts' exposed ports are served, one origin each: 'https://*.apps.example.com' (default under loopback: http://*.localhost:<port>; none otherwise)" },
      "path-apps": { type: "boolean", env: "WARREN_PATH_APPS", help: "Also serve apps to browsers under /api/hosts/:id/ports/… on the dashboard's origin, sandboxed (warns on every start)" },
      "jwks-max-age": { type: "string", value: "duration", env: "WARREN_JWKS_MAX_AGE", default: "60s", help: "How long verifiers may cache /api/auth/jwks; a rotated key is published this long (+5 s) before it signs. The same on every replica" },
      "metrics-addr": { type: "string", value: "addr:port", env: "WARREN_METRICS_ADDR", help: "Serve Prometheus metrics at http://<addr:port>/metrics, a listener of their own (e.g. 127.0.0.1:9464)" },
      "metrics-public": { type: "boolean", env: "WARREN_METRICS_PUBLIC", help: "Also serve /metrics on the main port, to owners of the first organization (Authorization: Bearer <API key>)" },
      "audit-retention": { type: "string", value: "duration", env: "WARREN_AUDIT_RETENTION", default: "90d", help: "Delete audit events older than this (90d, 24h…)" },
      "replica-url": { type: "string", value: "url", env: "WARREN_REPLICA_URL", help: "How other replicas on the same database reach this one (default: the address it listens on)" },
      "oidc-issuer": { type: "string", value: "url", env: "WARREN_OIDC_ISSUER", help: "Also sign people in with this OpenID Connect provider (its issuer URL; see docs/oidc.md)" },
      "oidc-client-id": { type: "string", value: "id", env: "WARREN_OIDC_CLIENT_ID", help: "The client id Warren is registered under at the provider" },
      "oidc-client-secret": { type: "string", value: "secret", env: "WARREN_OIDC_CLIENT_SECRET", help: "Its client secret (prefer the env var or --oidc-client-secret-file: flags show in ps)" },
      "oidc-client-secret-file": { type: "string", value: "file", env: "WARREN_OIDC_CLIENT_SECRET_FILE", help: "Read the client secret from this file" },
      "oidc-name": { type: "string", value: "name", env: "WARREN_OIDC_NAME", help: "The provider's name on the sign-in button (\"Sign in with <name>\"; default: the issuer's host)" },
      "oidc-allow-domain": { type: "list", value: "domain", env: "WARREN_OIDC_ALLOW_DOMAIN", help: "People with a verified email at this domain may sign in the first time without an invitation; repeatable" },
      "oidc-groups-claim": { type: "string", value: "claim", env: "WARREN_OIDC_GROUPS_CLAIM", help: "The claim listing a user's groups, for --oidc-group-map (often groups)" },
      "oidc-group-map": { type: "list", value: "group:org:role,…", env: "WARREN_OIDC_GROUP_MAP", help: "Memberships from groups, re-applied at every sign-in: 'eng:default:member,leads:default:admin'; repeatable" },
      "oidc-scopes": { type: "string", value: "scopes", env: "WARREN_OIDC_SCOPES", help: "Scopes to ask for (default: openid email profile, and groups when --oidc-groups-claim is groups)" },
      "oidc-required": { type: "boolean", env: "WARREN_OIDC_REQUIRED", help: "New people sign in only with the provider: invite them by email, not by pairing link. Pairing links still add devices of signed-in users, and `warren pair` on this machine is the owner's break-glass" },
      "log-file": { type: "string", value: "path", env: "WARREN_LOG_FILE", help: "Append log lines here instead of stderr" },
      "log-level": { type: "string", value: "level", env: "WARREN_LOG_LEVEL", default: "info", help: "error, warn, info (one line per request) or debug (also /healthz)" },
      "log-format": { type: "string", value: "format", env: "WARREN_LOG_FORMAT", help: "json or text (default: text on a terminal, JSON otherwise)" },
    },
    details: `Prints "warren listening on <url>" on stdout once it serves. SIGTERM or Ctrl-C stops it
gracefully: in-flight requests get up to 10 s to finish.

Examples:
  warren serve                                   # laptop: http://127.0.0.1:7420, SQLite in ~/.warren
  warren serve --port 0 --data-dir /tmp/w        # any free port, throwaway data
  warren serve --host 0.0.0.0 --public-url https://warren.example.com \\
               --database-url postgres://warren@db/warren
  WARREN_OIDC_CLIENT_SECRET=… warren serve --public-url https://warren.example.com \\
               --oidc-issuer https://accounts.google.com --oidc-client-id … \\
               --oidc-name Google --oidc-allow-domain example.com    # docs/oidc.md`,
  },
  async run(flags) {
    // A terminal closed or a log reader gone: what the server prints is lost, and that is all —
    // an error on stdout or stderr must not stop it serving, nor stopping.
    for (const out of [process.stdout, process.stderr]) out.on("error", () => {});
    const config = resolveServeConfig({
      port: flags.port as string | undefined,
      host: flags.host as string | undefined,
      dataDir: flags["data-dir"] as string | undefined,
      databaseUrl: flags["database-url"] as string | undefined,
      publicUrl: flags["public-url"] as string | undefined,
      longPollTimeout: flags["long-poll-timeout"] as string | undefined,
      sseConnection: flags["sse-connection"] as string | undefined,
      bootstrapToken: flags["bootstrap-token"] as string | undefined,
      insecure: flags.insecure as boolean | undefined,
      tlsCert: flags["tls-cert"] as string | undefined,
      tlsKey: flags["tls-key"] as string | undefined,
      noBrowser: flags["no-browser"] as boolean | undefined,
      logFile: flags["log-file"] as string | undefined,
      logLevel: flags["log-level"] as string | undefined,
      logFormat: flags["log-format"] as string | undefined,
      trustedProxies: flags["trusted-proxy"] as string[] | undefined,
      webhookAllow: flags["webhook-allow"] as string[] | undefined,
      localHost: flags["local-host"] as boolean | undefined,
      terminalIdle: flags["terminal-idle"] as string | undefined,
      terminalStall: flags["terminal-stall"] as string | undefined,
      relayHeartbeat: flags["relay-heartbeat"] as string | undefined,
      jwtLifetime: flags["jwt-lifetime"] as string | undefined,
      jwksMaxAge: flags["jwks-max-age"] as string | undefined,
      replicaUrl: flags["replica-url"] as string | undefined,
      metricsAddr: flags["metrics-addr"] as string | undefined,
      metricsPublic: flags["metrics-public"] as boolean | undefined,
      auditRetention: flags["audit-retention"] as string | undefined,
      appsUrl: flags["apps-url"] as string | undefined,
      pathApps: flags["path-apps"] as boolean | undefined,
      oidcIssuer: flags["oidc-issuer"] as string | undefined,
      oidcClientId: flags["oidc-client-id"] as string | undefined,
      oidcClientSecret: flags["oidc-client-secret"] as string | undefined,
      oidcClientSecretFile: flags["oidc-client-secret-file"] as string | undefined,
      oidcName: flags["oidc-name"] as string | undefined,
      oidcAllowDomains: flags["oidc-allow-domain"] as string[] | undefined,
      oidcGroupsClaim: flags["oidc-groups-claim"] as string | undefined,
      oidcGroupMap: flags["oidc-group-map"] as string[] | undefined,
      oidcScopes: flags["oidc-scopes"] as string | undefined,
      oidcRequired: flags["oidc-required"] as boolean | undefined,
    });
    let server;
    try {
      server = await startServer(config);
    } catch (e) {
      if ((e as { code?: string }).code === "EADDRINUSE") {
        throw new Error(`port ${config.port} on ${config.host} is already in use; pick another with --port (0 = any free port)`);
      }
      throw e;
    }
    // Signal handlers go in before the listening line: a script may signal as soon as it reads it.
    const stopped = new Promise<void>((done) => {
      const onSignal = (signal: string) => {
        if (signal === "SIGINT") process.stderr.write("\nstopping (Ctrl-C again to force)…\n");
        process.removeAllListeners("SIGINT").once("SIGINT", () => process.exit(1));
        process.removeAllListeners("SIGTERM");
        server.stop().then(done);
      };
      process.once("SIGTERM", () => onSignal("SIGTERM"));
      process.once("SIGINT", () => onSignal("SIGINT"));
      // A renewed certificate (certbot's deploy hook, a secret mount that changed): reload it.
      if (config.tls) process.on("SIGHUP", () => server.reloadTls());
    });
    if (config.policy === "remote" && config.insecure) {
      console.error("warning: --insecure: serving plain HTTP on a network address; anyone on the path can read credentials");
    }
    if (config.pathApps) {
      console.error("warning: --path-apps: apps are also served to browsers on the dashboard's origin (sandboxed: no script, no cookies); prefer their own origins");
    }
    console.log(`warren listening on ${server.url}` + (config.publicUrl ? `\npublic url: ${config.publicUrl}` : "") + (server.metricsUrl ? `\nmetrics: ${server.metricsUrl}` : ""));
    if (server.pairingUrl) {
      // stdout only (SPEC §1): the log never sees it. Printed once, on the first start.
      const minutes = Math.round((server.pairingExpiresAt!.getTime() - Date.now()) / 60_000);
      console.log(`first start: open this link to sign in as the owner (one use, valid ${minutes} min):\n  ${server.pairingUrl}`);
      if (config.openBrowser && process.stdin.isTTY) openBrowser(server.pairingUrl);
    }
    await stopped;
    return 0;
  },
};


function openBrowser(url: string) {
  const cmd = process.platform === "darwin" ? ["open", url] : process.platform === "win32" ? ["cmd", "/c", "start", "", url] : ["xdg-open", url];
  try {
    Bun.spawn(cmd, { stdio: ["ignore", "ignore", "ignore"] }).unref();
  } catch {
    // No opener on this machine: the link is printed above.
  }
}
