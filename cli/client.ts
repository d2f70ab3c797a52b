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
      throw new ClientError(`cannot reach warren at ${server}: ${(e as Error).message} — is \`warren serve\` running there?`);
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
      throw new ClientError(await describeFailure(r, server));
    },
  };
}

export async function describeFailure(r: Response, server: string): Promise<string> {
  let message = `HTTP ${r.status}`;
  try {
    const body = (await r.json()) as { error?: { message?: string } };
    if (body.error?.message) message = `${body.error.message} (HTTP ${r.status})`;
  } catch {
    // Not our JSON: the status says enough.
  }
  if (r.status === 401) message += `; sign in with: warren auth login ${server}`;
  return message;
}
