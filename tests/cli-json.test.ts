// --json on the commands that print data (SPEC §6), against a real server: each one's stdout is
// one JSON document a script can parse, and carries no secret it was not asked for.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cleanup, DIALECT, runWarren, startServer, tempDir, type TestServer } from "./harness";

afterAll(cleanup);

describe(`--json (${DIALECT})`, () => {
  let s: TestServer;
  const env: Record<string, string> = {};
  const parsed = async <T = Record<string, unknown>>(args: string[], extraEnv: Record<string, string> = {}): Promise<T> => {
    const r = await runWarren(args, { env: { ...env, ...extraEnv } });
    if (r.code !== 0) throw new Error(`warren ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };
  const dbFlags = () => ["--data-dir", s.dataDir, ...(s.databaseUrl ? ["--database-url", s.databaseUrl] : [])];

  beforeAll(async () => {
    s = await startServer();
    await s.waitFor(/\/pair#token=/);
    env.WARREN_HOME = tempDir();
  });
  afterAll(() => s.stop());

  test("pair --json: the link, its expiry and uses", async () => {
    const link = await parsed<{ url: string; expiresAt: string; uses: number }>(["pair", ...dbFlags(), "--server", s.url, "--uses", "2", "--json"]);
    expect(link.url).toMatch(new RegExp(`^${s.url}/pair#token=[A-Za-z0-9_-]+$`));
    expect(Date.parse(link.expiresAt)).toBeGreaterThan(Date.now());
    expect(link.uses).toBe(2);
    env.LINK = link.url;
  });

  test("auth login --json: who signed in, where, until when; never the session token", async () => {
    const r = await runWarren(["auth", "login", env.LINK!, "--json"], { env });
    expect(r.code).toBe(0);
    const me = JSON.parse(r.stdout) as { server: string; expiresAt: string; user: { id: string; name: string }; organizations: { id: string }[]; activeOrganizationId: string };
    expect(me.server).toBe(s.url);
    expect(Date.parse(me.expiresAt)).toBeGreaterThan(Date.now());
    expect(me.user.id).toBeTruthy();
    expect(me.organizations.map((o) => o.id)).toContain(me.activeOrganizationId);
    expect(r.stdout).not.toMatch(/sessionToken|token/i);
  });

  test("apikey revoke --json: the key revoked (by prefix, never the key)", async () => {
    const created = await parsed<{ id: string; key: string; prefix: string }>(["apikey", "create", "--name", "json-doomed", "--json"]);
    const r = await runWarren(["apikey", "revoke", "json-doomed", "--json"], { env });
    expect(r.code).toBe(0);
    const revoked = JSON.parse(r.stdout) as { id: string; name: string; prefix: string; enabled: boolean };
    expect(revoked).toMatchObject({ id: created.id, name: "json-doomed", prefix: created.prefix, enabled: false });
    expect(r.stdout).not.toContain(created.key);
    expect((await parsed<{ id: string }[]>(["apikey", "list", "--json"])).map((k) => k.id)).not.toContain(created.id);
  });

  test("term kill --json: the terminal it ended", async () => {
    const t = await parsed<{ id: string }>(["term", "new", "--json", "--", "sleep", "600"]);
    const killed = await parsed<{ id: string; cmd: string[]; hostId: string }>(["term", "kill", t.id, "--json"]);
    expect(killed).toMatchObject({ id: t.id, cmd: ["sleep", "600"], hostId: "local" });
  });

  test("every other data command's --json parses too", async () => {
    expect((await parsed<{ server: string }>(["auth", "check", "--json"])).server).toBe(s.url);
    expect(await parsed(["apikey", "list", "--json"])).toBeArray();
    expect(await parsed(["term", "ls", "--json"])).toBeArray();
    expect(await parsed(["stream", "ls", "--json"])).toBeArray();
    expect((await parsed<{ checks: unknown[] }>(["doctor", "--json"])).checks.length).toBeGreaterThan(0);
    expect((await parsed<{ version: string }>(["version", "--json"])).version).toBeTruthy();
  });
});
