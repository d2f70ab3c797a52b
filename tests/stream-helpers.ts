// A server ready for stream tests: fresh database, the owner signed in, and an API key bound to
// the owner's org (the credential headless stream clients use).
import { expect } from "bun:test";
import { api, issued, ownerSession } from "./auth-helpers";
import { startServer, type TestServer } from "./harness";

export interface StreamServer {
  server: TestServer;
  session: string;
  key: string;
  /** fetch on /v1/stream/<path> with the API key (headers may override it). */
  s(path: string, init?: RequestInit): Promise<Response>;
}

/** An API key for the session's active org (or `orgId`). */
export async function apiKey(server: TestServer, session: string, name = "streams", orgId?: string): Promise<string> {
  const call = api(server, session);
  const org = orgId ?? ((await (await call("GET", "/api/auth/session")).json()) as { activeOrganizationId: string }).activeOrganizationId;
  const r = await call("POST", "/api/api-keys", { name, organizationId: org });
  expect(r.status).toBe(201);
  const { key } = (await r.json()) as { key: string };
  issued.push(key);
  return key;
}

export async function streamServer(opts: Parameters<typeof startServer>[0] = {}): Promise<StreamServer> {
  const server = await startServer({ ...opts, args: ["--long-poll-timeout", "500ms", ...(opts.args ?? [])] });
  await server.waitFor(/\/pair#token=/);
  const session = await ownerSession(server);
  const key = await apiKey(server, session);
  return {
    server,
    session,
    key,
    s: (path, init = {}) => fetch(`${server.url}/v1/stream/${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) } }),
  };
}
