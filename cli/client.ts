// The one HTTP client every CLI command uses (STYLE: the same rule in two places goes wrong the
// same way twice): which server, which credential, and errors that say what happened.
// Precedence: --server / WARREN_SERVER, else the stored login's server, else the local default.
// Credential: --api-key / WARREN_API_KEY (org-bound, headless) wins over the stored session.
import { existsSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { readSecret, writeSecretFile } from "../server/datadir";
import { DEFAULT_PORT } from "../server";
import type { FlagSpec, ParsedFlags } from "./flags";

export const DEFAULT_SERVER = `http://127.0.0.1:${DEFAULT_PORT}`;

export const clientFlags: Record<string, FlagSpec> = {
  server: { type: "string", value: "url", env: "WARREN_SERVER", help: "Warren server (default: the one you logged in to, else http://127.0.0.1:7420)" },
  "api-key": { type: "string", value: "key", env: "WARREN_API_KEY", help: "Use this API key instead of the stored session" },
};

export interface Login {
  server: string;
  sessionToken: string;
  expiresAt: string;
}

interface LoginFile {
  current?: string;
  servers: Record<string, Login>;
}

/** ~/.warren/ unless WARREN_HOME says otherwise; logins live in a 0600 file there. */
export const configDir = () => process.env.WARREN_HOME || join(homedir(), ".warren");
const LOGINS = "logins.json";

export function readLogins(): LoginFile {
  const path = join(configDir(), LOGINS);
  if (!existsSync(path)) return { servers: {} };
  return JSON.parse(readSecret(path)) as LoginFile;
}

export function saveLogin(login: Login): void {
  const file = readLogins();
  file.servers[login.server] = login;
  file.current = login.server;
  writeSecretFile(configDir(), LOGINS, JSON.stringify(file, null, 2) + "\n");
}

export function forgetLogin(server: string): boolean {
  const file = readLogins();
  if (!file.servers[server]) return false;
  delete file.servers[server];
  if (file.current === server) file.current = Object.keys(file.servers)[0];
  if (Object.keys(file.servers).length === 0) rmSync(join(configDir(), LOGINS), { force: true });
  else writeSecretFile(configDir(), LOGINS, JSON.stringify(file, null, 2) + "\n");
  return true;
}

export function normalizeServer(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ClientError(`"${url}" is not a URL; expected something like http://127.0.0.1:7420`);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new ClientError(`the server URL must start with http:// or https://`);
  return u.origin;
}

/** A failure talking to the server, already worded for a person. */
export class ClientError extends Error {}

export interface Client {
  server: string;
  credential: "api-key" | "session" | "none";
  /** The credential headers, for WebSockets (which the same rules apply to). */
  headers: Record<string, string>;
  request(method: string, path: string, body?: unknown): Promise<Response>;
  /** A request with a raw body and headers of its own (stream appends, live reads). */
  send(method: string, path: string, init?: { headers?: Record<string, string>; body?: BodyInit; signal?: AbortSignal }): Promise<Response>;
  /** request() that throws ClientError unless the answer is 2xx, and parses JSON. */
  json<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export function client(flags: ParsedFlags): Client {
  const logins = readLogins();
  const server = normalizeServer((flags.server as string | undefined) ?? logins.current ?? DEFAULT_SERVER);
  const apiKey = flags["api-key"] as string | undefined;
  const session = logins.servers[server]?.sessionToken;
  const headers: Record<string, string> = apiKey ? { "x-api-key": apiKey } : session ? { authorization: `Bearer ${session}` } : {};
  const send: Client["send"] = async (method, path, init = {}) => {
    try {
      return await fetch(server + path, { method, headers: { ...headers, ...init.headers }, body: init.body, signal: init.signal });
    } catch (e) {
      if (init.signal?.aborted) throw e;
      throw new ClientError(`cannot reach warren at ${server}: ${unreachable(e)} — is \`warren serve\` running there?`);
    }
  };
  const request = (method: string, path: string, body?: unknown) =>
    send(method, path, body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return {
    server,
    credential: apiKey ? "api-key" : session ? "session" : "none",
    headers,
    request,
    send,
    async json<T>(method: string, path: string, body?: unknown): Promise<T> {
      const r = await request(method, path, body);
      if (r.ok) return (r.status === 204 ? undefined : await r.json()) as T;
      throw new ClientError(await describeFailure(r, server, apiKey ? "api-key" : session ? "session" : "none"));
    },
  };
}

/**
 * A refusal in words: the server's own message when it is Warren's, what to do about a 401 given
 * the credential that was sent, and — when the answer is not Warren's shape at all — whether the
 * server is Warren, rather than a misleading status.
 */
export async function describeFailure(r: Response, server: string, credential: Client["credential"] = "none"): Promise<string> {
  const body = (await r.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
  if (!body?.error?.message) {
    if (!(await isWarren(server))) return `${server} is not a Warren server (it answered HTTP ${r.status}); check the URL (--server, WARREN_SERVER)`;
    return `HTTP ${r.status}`;
  }
  const message = `${body.error.message} (HTTP ${r.status})`;
  if (r.status !== 401) return message;
  if (credential === "api-key") return `the server rejected this API key (revoked, expired or mistyped): ${message}; make a new one with warren apikey create, or on the dashboard`;
  if (credential === "session") return `${message}; your stored session is no longer good: sign in again with warren auth login <pairing link>`;
  return `${message}; sign in first: warren auth login <pairing link> (warren pair on the server gives one)`;
}

/** Why a connection failed, in words rather than the runtime's. */
function unreachable(e: unknown): string {
  const code = (e as { code?: string }).code ?? "";
  if (code === "ECONNREFUSED" || code === "ConnectionRefused") return "nothing is listening there";
  if (code === "ENOTFOUND" || code === "EAI_NONAME" || code === "DNSException") return "no such host name";
  if (/TIMEDOUT|Timeout/i.test(code)) return "it did not answer in time";
  if (/CERT|SSL|TLS|SELF_SIGNED/i.test(code)) return `its TLS certificate is not trusted here (${code})`;
  if (code === "ECONNRESET" || code === "ConnectionClosed") return "the connection was closed";
  return (e as Error).message;
}

/** Whether a server answers as Warren does (GET /api/server names itself). */
export async function isWarren(server: string): Promise<boolean> {
  try {
    const r = await fetch(`${server}/api/server`, { signal: AbortSignal.timeout(5_000) });
    return ((await r.json()) as { service?: string }).service === "warren";
  } catch {
    return false;
  }
}
