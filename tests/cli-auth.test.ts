// warren pair / auth login / auth check / auth logout, against a real server.
import { afterAll, describe, expect, test } from "bun:test";
import { statSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { api, issued, json, ownerSession, pair, printedPairingToken } from "./auth-helpers";
import { cleanup, DIALECT, runWarren, startServer, tempDir } from "./harness";

afterAll(cleanup);

describe(`warren auth and warren pair (${DIALECT})`, () => {
  test("login with the printed link, check, revoke from another session → the CLI's next call is 401", async () => {
    const s = await startServer();
    await s.waitFor(/\/pair#token=/);
    const home = tempDir();
    const env = { WARREN_HOME: home };
    const link = `${s.url}/pair#token=${printedPairingToken(s)}`;
    const login = await runWarren(["auth", "login", link, "--device-name", "laptop-cli"], { env });
    expect(login.stderr).toBe("");
    expect(login.code).toBe(0);
    expect(login.stdout).toContain(`signed in to ${s.url} as Owner`);
    const file = join(home, "logins.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(file, "utf8")) as { servers: Record<string, { sessionToken: string }> };
    const token = stored.servers[s.url]!.sessionToken;
    issued.push(token);
    expect(login.stdout).not.toContain(token);

    const check = await runWarren(["auth", "check", "--json"], { env });
    expect(check.code).toBe(0);
    const me = JSON.parse(check.stdout);
    expect(me).toMatchObject({ server: s.url, authenticated: true, method: "session", user: { name: "Owner" } });
    expect(me.organizations[0]).toMatchObject({ slug: "default", role: "owner" });
    const human = await runWarren(["auth", "check"], { env });
    expect(human.stdout).toContain("org:     default — Default (owner) [active]");

    // Revoke the CLI's session from another session of the owner (what the web app's list does).
    const pairOut = await runWarren(["pair", "--data-dir", s.dataDir, ...(s.databaseUrl ? ["--database-url", s.databaseUrl] : []), "--server", s.url]);
    expect(pairOut.code).toBe(0);
    const second = /#token=(\S+)/.exec(pairOut.stdout)![1]!;
    issued.push(second);
    const browser = await (await fetch(`${s.url}/api/auth/pair`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: second, client: "cli" }) })).json() as { sessionToken: string };
    issued.push(browser.sessionToken);
    const { sessions } = await json<{ sessions: { id: string; deviceName: string }[] }>(api(s, browser.sessionToken)("GET", "/api/auth/sessions"));
    const cli = sessions.find((x) => x.deviceName === "laptop-cli")!;
    expect((await api(s, browser.sessionToken)("DELETE", `/api/auth/sessions/${cli.id}`)).status).toBe(204);

    const after = await runWarren(["auth", "check"], { env });
    expect(after.code).toBe(1);
    expect(after.stderr).toContain("(HTTP 401)");
    expect(after.stderr).toContain("your stored session is no longer good: sign in again with warren auth login");
    await s.stop();
  });

  test("logout revokes on the server and forgets locally", async () => {
    const s = await startServer();
    await s.waitFor(/\/pair#token=/);
    const home = tempDir();
    const login = await runWarren(["auth", "login", `${s.url}/pair#token=${printedPairingToken(s)}`], { env: { WARREN_HOME: home } });
    expect(login.code).toBe(0);
    const token = (JSON.parse(readFileSync(join(home, "logins.json"), "utf8")) as { servers: Record<string, { sessionToken: string }> }).servers[s.url]!.sessionToken;
    issued.push(token);
    const out = await runWarren(["auth", "logout"], { env: { WARREN_HOME: home } });
    expect(out.code).toBe(0);
    expect(existsSync(join(home, "logins.json"))).toBe(false);
    expect((await api(s, token)("GET", "/api/orgs")).status).toBe(401);
    const check = await runWarren(["auth", "check"], { env: { WARREN_HOME: home } });
    expect(check.code).toBe(1);
    expect(check.stderr).toContain("not signed in");
    await s.stop();
  });

  test("login reads the token from stdin when given only the server URL; bad tokens fail clearly", async () => {
    const s = await startServer();
    await s.waitFor(/\/pair#token=/);
    const home = tempDir();
    const p = Bun.spawn([process.execPath, "cli/main.ts", "auth", "login", s.url], {
      env: { ...process.env, WARREN_HOME: home },
      stdin: new Blob([`${printedPairingToken(s)}\n`]),
      stdout: "pipe",
      stderr: "pipe",
    });
    expect(await p.exited).toBe(0);
    expect(await new Response(p.stdout).text()).toContain("signed in to");
    const bad = await runWarren(["auth", "login", `${s.url}/pair#token=${"b".repeat(32)}`], { env: { WARREN_HOME: tempDir() } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("pairing failed: this pairing link is invalid, used or expired");
    const unreachable = await runWarren(["auth", "login", `http://127.0.0.1:1/pair#token=${"b".repeat(32)}`], { env: { WARREN_HOME: tempDir() } });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain("cannot reach warren at http://127.0.0.1:1");
    const usage = await runWarren(["auth", "login"], { env: { WARREN_HOME: tempDir() } });
    expect(usage.code).toBe(2);
    await s.stop();
  });

  test("warren pair before any start explains itself; its link works once", async () => {
    const dataDir = tempDir();
    const s = await startServer({ dataDir });
    await s.waitFor(/\/pair#token=/);
    await ownerSession(s);
    const out = await runWarren(["pair", "--data-dir", dataDir, ...(s.databaseUrl ? ["--database-url", s.databaseUrl] : []), "--server", s.url, "--uses", "2"]);
    expect(out.code).toBe(0);
    expect(out.stderr).toContain("2 times");
    const token = /#token=(\S+)/.exec(out.stdout)![1]!;
    issued.push(token);
    expect(s.stderr()).not.toContain(token);
    const empty = await runWarren(["pair", "--data-dir", tempDir()]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain("no owner yet");
    await s.stop();
  });

  test("warren pair points its link at the server running on the data dir (any port), and notices one that died", async () => {
    const dataDir = tempDir();
    const s = await startServer({ dataDir });
    await s.waitFor(/\/pair#token=/);
    await ownerSession(s);
    const db = s.databaseUrl ? ["--database-url", s.databaseUrl] : [];
    const out = await runWarren(["pair", "--data-dir", dataDir, ...db]);
    expect(out.code).toBe(0);
    expect(out.stdout.trim()).toStartWith(`${s.url}/pair#token=`); // --port 0: the port it really got
    issued.push(/#token=(\S+)/.exec(out.stdout)![1]!);
    expect((await pair(s, /#token=(\S+)/.exec(out.stdout)![1]!)).status).toBe(200);
    s.proc.kill("SIGKILL");
    await s.exited;
    const stale = await runWarren(["pair", "--data-dir", dataDir, ...db]);
    expect(stale.code).toBe(0);
    expect(stale.stderr).toContain("no server is running");
    expect(stale.stdout.trim()).toStartWith("http://127.0.0.1:7420/pair#token=");
    issued.push(/#token=(\S+)/.exec(stale.stdout)![1]!);
  });
});

describe(`warren apikey (${DIALECT})`, () => {
  test("create for an org by slug (shown once), list by prefix, use it headless, revoke it", async () => {
    const s = await startServer();
    await s.waitFor(/\/pair#token=/);
    const home = tempDir();
    const env = { WARREN_HOME: home };
    expect((await runWarren(["auth", "login", `${s.url}/pair#token=${printedPairingToken(s)}`], { env })).code).toBe(0);
    const created = await runWarren(["apikey", "create", "--org", "default", "--name", "ci"], { env });
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    issued.push(key);
    expect(key).toMatch(/^sk_live_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain("shown only now");
    const list = await runWarren(["apikey", "list"], { env });
    expect(list.stdout).toContain(`sk_live_${key.slice(8, 16)}…  ci  org default  active`);
    expect(list.stdout).not.toContain(key);
    const id = list.stdout.split(/\s+/)[0]!;
    const headless = await runWarren(["auth", "check", "--server", s.url], { env: { WARREN_HOME: tempDir(), WARREN_API_KEY: key } });
    expect(headless.code).toBe(0);
    expect(headless.stdout).toContain('API key "ci"');
    // A key cannot create keys: the CLI says why.
    const widen = await runWarren(["apikey", "create", "--org", "default", "--name", "more", "--server", s.url, "--api-key", key], { env: { WARREN_HOME: tempDir() } });
    expect(widen.code).toBe(1);
    expect(widen.stderr).toContain("HTTP 403");
    const bad = await runWarren(["apikey", "create", "--org", "nope", "--name", "x"], { env });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('not a member of an organization "nope"');
    // One organization: --org is not needed. Two: it is, and the CLI lists them.
    const second = await runWarren(["apikey", "create", "--name", "second"], { env });
    expect(second.code).toBe(0);
    issued.push(second.stdout.trim());
    expect((await runWarren(["apikey", "create"], { env })).stderr).toContain("--name is required");
    const revoked = await runWarren(["apikey", "revoke", id], { env });
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toBe(`revoked "ci" (sk_live_${key.slice(8, 16)}…, ${id})\n`);
    expect((await api(s, null, { "x-api-key": key })("GET", "/api/orgs")).status).toBe(401);
    // By name or by the prefix the list shows, too; nothing that matches nothing.
    expect((await runWarren(["apikey", "revoke", "second"], { env })).code).toBe(0);
    expect((await api(s, null, { "x-api-key": second.stdout.trim() })("GET", "/api/orgs")).status).toBe(401);
    const none = await runWarren(["apikey", "revoke", "nothing-like-it"], { env });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no API key of yours is named, numbered or prefixed "nothing-like-it"');
    // A revoked key is told as a key problem, not as a login to renew.
    const stale = await runWarren(["auth", "check", "--server", s.url], { env: { WARREN_HOME: tempDir(), WARREN_API_KEY: key } });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain("the server rejected this API key");
    expect(stale.stderr).not.toContain("auth login");
    await s.stop();
  });

  test("-h is --help; a server that is not Warren, or not there, is said so in words", async () => {
    const h = await runWarren(["apikey", "create", "-h"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("Usage: warren apikey create");
    const other = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("<h1>Not Found</h1>", { status: 404, headers: { "content-type": "text/html" } }) });
    const env = { WARREN_HOME: tempDir() };
    const stranger = await runWarren(["auth", "check", "--server", `http://127.0.0.1:${other.port}`, "--api-key", "sk_live_" + "x".repeat(43)], { env });
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toContain(`http://127.0.0.1:${other.port} is not a Warren server (it answered HTTP 404)`);
    const pairing = await runWarren(["auth", "login", `http://127.0.0.1:${other.port}/pair#token=${"t".repeat(32)}`], { env });
    expect(pairing.stderr).toContain("is not a Warren server");
    other.stop(true);
    const gone = await runWarren(["auth", "check", "--server", `http://127.0.0.1:${other.port}`, "--api-key", "sk_live_" + "x".repeat(43)], { env });
    expect(gone.stderr).toContain("nothing is listening there");
  });
});
