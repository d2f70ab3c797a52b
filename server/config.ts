// `warren serve` settings: flag values checked and turned into one typed config, including the
// loopback/remote policy (SPEC §1). Bad values are usage errors; an unsafe bind is a refusal.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { StartupError } from "./datadir";
import { LEVELS, type Level, type LogFormat } from "./log";

export type Policy = "loopback" | "remote";

export interface ServeConfig {
  port: number;
  host: string;
  dataDir: string;
  databaseUrl?: string;
  /** Origin users reach the server by; defaults to the bind address. */
  publicUrl?: string;
  policy: Policy;
  insecure: boolean;
  /** PEM files: Bun serves TLS itself (reloaded on SIGHUP). */
  tls?: { cert: string; key: string };
  /** Users reach the server over https (its public URL): cookies are Secure and __Host-. */
  secureCookies: boolean;
  /**
   * Where apps on hosts' exposed ports are served, one origin each: a URL with `*` for the app's
   * label (`https://*.apps.example.com`). Unset: `http://*.localhost:<port>` under the loopback
   * policy (known once listening), none under remote.
   */
  appsUrl?: string;
  /** Also serve apps to browsers under /api/hosts/:id/ports/… (sandboxed); off by default. */
  pathApps: boolean;
  longPollTimeoutMs: number;
  /** How long one SSE response of a stream lasts before the client reconnects from its offset. */
  sseConnectionMs: number;
  bootstrapToken?: string;
  openBrowser: boolean;
  logFile?: string;
  logLevel: Level;
  /** Unset: text on a terminal, JSON otherwise (and always JSON into a file). */
  logFormat?: LogFormat;
  /** Peers whose X-Forwarded-For is believed. */
  trustedProxies: string[];
  /** Terminals on the server machine itself (SPEC §5): on under loopback, opt-in under remote. */
  localHost: boolean;
  terminalIdleMs: number;
  /** A writer that has not acked for this long no longer pauses its program (pty/session.ts). */
  terminalStallMs: number;
  /** Hosts a stream subscription's webhook may call (SSRF guard): exact hosts, host:port, or *.domain. */
  webhookAllow: string[];
  /** How often the relay pings each host; three missed answers drop it (SPEC §4: 15 s). */
  relayHeartbeatMs: number;
  /** Lifetime of the JWTs this server signs (SPEC §2.2: 15 minutes; shorter for tests and drills). */
  jwtLifetimeMs: number;
  /** How long verifiers may cache the JWKS; a new signing key is published that long before it signs. */
  jwksMaxAgeMs: number;
  /** How other replicas on the same database reach this one (relay forwarding); default: its address. */
  replicaUrl?: string;
  /** A listener of its own for GET /metrics. */
  metricsAddr?: { host: string; port: number };
  /** Also serve /metrics on the main port, to owners of the first organization. */
  metricsPublic: boolean;
  /** Sign-in with an OpenID Connect provider (server/auth/oidc.ts); unset: pairing links only. */
  oidc?: OidcConfig;
  /** Audit events older than this are deleted (server/audit/retention.ts). */
  auditRetentionMs: number;
}

/** `--oidc-group-map 'eng:default:member'`: people in group `eng` are members of org `default`. */
export interface GroupMapping {
  group: string;
  orgSlug: string;
  role: "owner" | "admin" | "member";
}

export interface OidcConfig {
  /** The issuer identifier, exactly as the provider's discovery document names it. */
  issuer: string;
  clientId: string;
  /** Unset: a public client (PKCE only, no client authentication). */
  clientSecret?: string;
  /** The button says "Sign in with <name>". */
  name: string;
  /** Email domains whose verified addresses may sign in the first time without an invitation. */
  allowDomains: string[];
  /** The claim (ID token or userinfo) listing the user's groups. */
  groupsClaim?: string;
  groupMap: GroupMapping[];
  scopes: string[];
  /**
   * --oidc-required: new people come in only through the provider. Pairing links still sign in
   * devices of signed-in users and the owner's break-glass (`warren pair`), never invite anyone.
   */
  required: boolean;
}

export interface ServeInput {
  tlsCert?: string;
  tlsKey?: string;
  metricsAddr?: string;
  metricsPublic?: boolean;
  appsUrl?: string;
  pathApps?: boolean;
  port?: string;
  host?: string;
  dataDir?: string;
  databaseUrl?: string;
  publicUrl?: string;
  longPollTimeout?: string;
  sseConnection?: string;
  bootstrapToken?: string;
  insecure?: boolean;
  noBrowser?: boolean;
  logFile?: string;
  logLevel?: string;
  logFormat?: string;
  trustedProxies?: string[];
  localHost?: boolean;
  terminalIdle?: string;
  terminalStall?: string;
  webhookAllow?: string[];
  relayHeartbeat?: string;
  jwtLifetime?: string;
  jwksMaxAge?: string;
  replicaUrl?: string;
  oidcIssuer?: string;
  oidcClientId?: string;
  oidcClientSecret?: string;
  /** A file holding the client secret (a mounted secret), read at start. */
  oidcClientSecretFile?: string;
  oidcName?: string;
  oidcAllowDomains?: string[];
  oidcGroupsClaim?: string;
  oidcGroupMap?: string[];
  oidcScopes?: string;
  auditRetention?: string;
  oidcRequired?: boolean;
}

/** A flag value that cannot be used; the CLI prints it as a usage error (exit 2). */
export class ConfigError extends Error {}

export const DEFAULT_PORT = 7420;

export function resolveServeConfig(input: ServeInput): ServeConfig {
  const host = input.host ?? "127.0.0.1";
  const policy: Policy = isLoopback(host) ? "loopback" : "remote";
  const insecure = input.insecure ?? false;
  const publicUrl = input.publicUrl === undefined ? undefined : parsePublicUrl(input.publicUrl);
  if ((input.tlsCert === undefined) !== (input.tlsKey === undefined)) throw new ConfigError("--tls-cert and --tls-key go together: the certificate and its private key, both PEM");
  const tls = input.tlsCert === undefined ? undefined : { cert: resolve(expandHome(input.tlsCert)), key: resolve(expandHome(input.tlsKey!)) };
  if (policy === "remote" && !insecure && !tls && !publicUrl?.startsWith("https://")) {
    throw new StartupError(
      `refusing to listen on ${host}: a non-loopback address needs TLS — --tls-cert and --tls-key, or --public-url https://… ` +
        `(the address users reach, behind a TLS proxy) — or --insecure to serve plain HTTP on the network`,
    );
  }
  return {
    port: parsePort(input.port ?? String(DEFAULT_PORT)),
    host,
    dataDir: expandHome(input.dataDir ?? join(homedir(), ".warren")),
    databaseUrl: input.databaseUrl === undefined ? undefined : parseDatabaseUrl(input.databaseUrl),
    publicUrl,
    policy,
    insecure,
    tls,
    secureCookies: !!tls || (publicUrl?.startsWith("https://") ?? false),
    appsUrl: input.appsUrl === undefined ? undefined : parseAppsUrl(input.appsUrl),
    pathApps: input.pathApps ?? false,
    longPollTimeoutMs: parseDuration(input.longPollTimeout ?? "30s", "--long-poll-timeout", 100, 300_000),
    sseConnectionMs: parseDuration(input.sseConnection ?? "60s", "--sse-connection", 1_000, 3_600_000),
    bootstrapToken: input.bootstrapToken === undefined ? undefined : parseBootstrapToken(input.bootstrapToken),
    openBrowser: !(input.noBrowser ?? false),
    logFile: input.logFile === undefined ? undefined : resolve(expandHome(input.logFile)),
    logLevel: oneOf(input.logLevel ?? "info", LEVELS, "--log-level"),
    logFormat: input.logFormat === undefined ? undefined : oneOf(input.logFormat, ["json", "text"] as const, "--log-format"),
    trustedProxies: (input.trustedProxies ?? []).map(parseIp),
    localHost: policy === "loopback" || (input.localHost ?? false),
    terminalIdleMs: parseDuration(input.terminalIdle ?? "1h", "--terminal-idle", 1000, 30 * 86_400_000),
    terminalStallMs: parseDuration(input.terminalStall ?? "30s", "--terminal-stall", 100, 3_600_000),
    // Loopback servers run next to their webhook receivers; a network-facing one calls nothing
    // until the operator says where webhooks may go.
    webhookAllow: (input.webhookAllow ?? (policy === "loopback" ? ["127.0.0.1", "localhost", "::1"] : [])).map(parseAllowedHost),
    relayHeartbeatMs: parseDuration(input.relayHeartbeat ?? "15s", "--relay-heartbeat", 100, 300_000),
    replicaUrl: input.replicaUrl === undefined ? undefined : parsePublicUrl(input.replicaUrl, "--replica-url"),
    jwtLifetimeMs: parseDuration(input.jwtLifetime ?? "15m", "--jwt-lifetime", 2_000, 15 * 60_000),
    jwksMaxAgeMs: parseDuration(input.jwksMaxAge ?? "60s", "--jwks-max-age", 1_000, 3_600_000),
    metricsAddr: input.metricsAddr === undefined ? undefined : parseAddr(input.metricsAddr, "--metrics-addr"),
    metricsPublic: input.metricsPublic ?? false,
    oidc: parseOidc(input),
    auditRetentionMs: parseDuration(input.auditRetention ?? "90d", "--audit-retention", 1_000, 3650 * 86_400_000),
  };
}

function parseOidc(input: ServeInput): OidcConfig | undefined {
  const given = [input.oidcIssuer, input.oidcClientId, input.oidcClientSecret, input.oidcClientSecretFile, input.oidcName, input.oidcGroupsClaim, input.oidcScopes].some((v) => v !== undefined) ||
    (input.oidcAllowDomains?.length ?? 0) > 0 || (input.oidcGroupMap?.length ?? 0) > 0 || !!input.oidcRequired;
  if (!given) return undefined;
  if (input.oidcRequired && input.oidcIssuer === undefined) throw new ConfigError("--oidc-required needs --oidc-issuer (and --oidc-client-id): the provider people must sign in with");
  if (input.oidcIssuer === undefined || input.oidcClientId === undefined) {
    throw new ConfigError("OpenID Connect sign-in needs both --oidc-issuer and --oidc-client-id (and usually --oidc-client-secret or --oidc-client-secret-file)");
  }
  let issuer: URL;
  try {
    issuer = new URL(input.oidcIssuer);
  } catch {
    throw new ConfigError(`--oidc-issuer must be the provider's issuer URL, like https://accounts.google.com, got "${input.oidcIssuer}"`);
  }
  // Plain http only to a provider on this machine (a test or a dev setup): anywhere else a
  // man in the middle could hand out its own keys and sign anyone in.
  if (issuer.protocol !== "https:" && !(issuer.protocol === "http:" && isLoopback(issuer.hostname))) {
    throw new ConfigError(`--oidc-issuer must be an https:// URL (plain http only for a provider on loopback), got "${input.oidcIssuer}"`);
  }
  if (input.oidcClientSecret !== undefined && input.oidcClientSecretFile !== undefined) {
    throw new ConfigError("give the client secret once: --oidc-client-secret or --oidc-client-secret-file, not both");
  }
  let clientSecret = input.oidcClientSecret;
  if (input.oidcClientSecretFile !== undefined) {
    const path = resolve(expandHome(input.oidcClientSecretFile));
    try {
      clientSecret = readFileSync(path, "utf8").trim();
    } catch (e) {
      throw new ConfigError(`--oidc-client-secret-file: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (!clientSecret) throw new ConfigError(`--oidc-client-secret-file: ${path} is empty`);
  }
  const allowDomains = (input.oidcAllowDomains ?? []).map((d) => {
    const v = d.trim().toLowerCase().replace(/^@/, "");
    if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(v)) throw new ConfigError(`--oidc-allow-domain takes an email domain like example.com, got "${d}"`);
    return v;
  });
  const groupMap = (input.oidcGroupMap ?? []).flatMap((list) => list.split(",")).filter((e) => e.trim()).map(parseGroupMapping);
  if (groupMap.length > 0 && input.oidcGroupsClaim === undefined) throw new ConfigError("--oidc-group-map needs --oidc-groups-claim: the claim that lists a user's groups (often \"groups\")");
  const groupsClaim = input.oidcGroupsClaim?.trim();
  if (groupsClaim !== undefined && !/^[\w.:/-]{1,200}$/.test(groupsClaim)) throw new ConfigError(`--oidc-groups-claim must be a claim name, got "${input.oidcGroupsClaim}"`);
  const scopes = (input.oidcScopes ?? `openid email profile${groupsClaim === "groups" ? " groups" : ""}`).split(/[\s,]+/).filter(Boolean);
  if (!scopes.includes("openid")) scopes.unshift("openid");
  const name = input.oidcName?.trim() || issuer.hostname;
  if (name.length > 60) throw new ConfigError("--oidc-name must be at most 60 characters");
  return { issuer: input.oidcIssuer, clientId: input.oidcClientId, clientSecret, name, allowDomains, groupsClaim, groupMap, scopes, required: !!input.oidcRequired };
}

/** `group:orgslug:role`; a group name may itself contain colons (`cn=eng,…` does not, but `team:eng` may). */
function parseGroupMapping(entry: string): GroupMapping {
  const parts = entry.trim().split(":");
  const role = parts.pop();
  const orgSlug = parts.pop();
  const group = parts.join(":");
  if (!group || !orgSlug || (role !== "owner" && role !== "admin" && role !== "member")) {
    throw new ConfigError(`--oidc-group-map takes group:org-slug:role entries (role owner, admin or member), comma-separated, got "${entry.trim()}"`);
  }
  return { group, orgSlug: orgSlug.toLowerCase(), role };
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function parseIp(value: string): string {
  if (isIP(value) === 0) throw new ConfigError(`--trusted-proxy must be an IP address (like 10.0.0.2 or ::1), got "${value}"`);
  return value;
}

function parseAllowedHost(value: string): string {
  const v = value.trim().toLowerCase().replace(/^\[([^\]]+)\]/, "$1");
  if (!/^(\*\.)?[a-z0-9.:-]+$/.test(v)) throw new ConfigError(`--webhook-allow takes hosts (example.com, *.example.com, 10.0.0.5:8080), got "${value}"`);
  return v;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new ConfigError(`${flag} must be one of ${allowed.join(", ")}, got "${value}"`);
  return value as T;
}

/** `127.0.0.1:9464`, `[::1]:9464`. */
function parseAddr(value: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const host = m?.[1] ?? m?.[2];
  if (!m || !host || Number(m[3]) > 65535 || (isIP(host) === 0 && host !== "localhost")) {
    throw new ConfigError(`${flag} must be an address and port, like 127.0.0.1:9464, got "${value}"`);
  }
  return { host, port: Number(m[3]) };
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new ConfigError(`--port must be a number from 0 to 65535, got "${value}"`);
  return n;
}

function parsePublicUrl(value: string, flag = "--public-url"): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigError(`${flag} must be an absolute URL like https://warren.example.com, got "${value}"`);
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") throw new ConfigError(`${flag} must start with https://`);
  if ((u.pathname !== "/" && u.pathname !== "") || u.search || u.hash || u.username || u.password) {
    throw new ConfigError(`${flag} must be an origin only (scheme, host, port), like https://warren.example.com`);
  }
  return u.origin;
}

/** `https://*.apps.example.com[:port]`: a scheme, `*.` and a domain, nothing else. */
function parseAppsUrl(value: string): string {
  const m = /^(https?):\/\/\*\.([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d{1,5}))?\/?$/i.exec(value.trim());
  if (!m || (m[3] !== undefined && Number(m[3]) > 65535)) {
    throw new ConfigError(`--apps-url must be a wildcard origin like 'https://*.apps.example.com' (each app gets its own subdomain), got "${value}"`);
  }
  return `${m[1]!.toLowerCase()}://*.${m[2]!.toLowerCase()}${m[3] ? `:${m[3]}` : ""}`;
}

function parseDatabaseUrl(value: string): string {
  if (!/^postgres(ql)?:\/\//.test(value)) {
    throw new ConfigError(
      `--database-url must be a postgres://user:password@host:port/db URL (leave it out to use the embedded SQLite database)`,
    );
  }
  return value;
}

function parseBootstrapToken(value: string): string {
  // ≥ 20 random bytes in base64url (SPEC §2.2); the value itself is never echoed back.
  if (!/^[A-Za-z0-9_-]{27,512}$/.test(value)) {
    throw new ConfigError(`--bootstrap-token must be at least 27 base64url characters (20 random bytes)`);
  }
  return value;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "30s", "5m", "1h", "90d" → milliseconds, within [min, max]. */
export function parseDuration(value: string, flag: string, min: number, max: number): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
  if (!m) throw new ConfigError(`${flag} must be a duration like 500ms, 30s, 5m, 1h or 90d, got "${value}"`);
  const ms = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  if (ms < min || ms > max) throw new ConfigError(`${flag} must be between ${min}ms and ${max / 1000}s, got ${value}`);
  return ms;
}

function expandHome(path: string): string {
  const p = path === "~" || path.startsWith("~/") ? join(homedir(), path.slice(1)) : path;
  return isAbsolute(p) ? p : resolve(p);
}
