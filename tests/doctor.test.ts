// warren doctor against real servers and a real host agent: a sound setup is all ok (exit 0);
// an unreachable server, a server that is not Warren, a revoked login each a problem (exit 1)
// saying what to do.
import { afterAll, describe, expect, test } from "bun:test";
import { api, issued, json, ownerSession, pairingLink } from "./auth-helpers";
import { cleanup, DIALECT, runWarren, spawnWarren, startServer, tempDir } from "./harness";

afterAll(cleanup);

type Check = { check: string; status: string; detail: string; hint?: string };

describe(`warren doctor (${DIALECT})`, () => {
  test("a sound setup: every check ok or a note, in words and as JSON; exit 0", async () => {
    const s = await startServer();
    await s.waitFor(/\/pair#token=/);
    const owner = await ownerSession(s);
    const home = tempDir("warren-home-");
    const env = { WARREN_HOME: home, HOME: home };
    expect((await runWarren(["auth", "login", `${s.url}/pair#token=${await pairingLink(s, owner)}`], { env })).code).toBe(0);
    const text = await runWarren(["doctor", "--server", s.url], { env });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^ok +server +${s.url.replace(/[.]/g, "\\.")} answered /healthz in \\d+ ms; warren \\d+\\.\\d+\\.\\d+ on ${DIALECT === "pg" ? "pg" : "sqlite"}$`, "m"));
    expect(text.stdout).toMatch(/^ok +clock /m);
    expect(text.stdout).toMatch(/^ok +transport +plain http, on this machine only/m);
    expect(text.stdout).toMatch(/^ok +credential +the stored session signs in as Owner, valid until /m);
    expect(text.stdout).toMatch(/^note +host agent +no host agent runs on this machine/m);
    // A host agent on this machine, connected: doctor says so.
    const org = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    const key = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "box", organizationId: org }))).key;
    issued.push(key);
    const agent = spawnWarren(["host", "start", "--daemon", "--server", s.url, "--name", "checked"], { env: { ...env, WARREN_API_KEY: key } });
    expect(await agent.exited).toBe(0);
    const asJson = await runWarren(["doctor", "--server", s.url, "--json"], { env });
    expect(asJson.code).toBe(0);
    const checks = (JSON.parse(asJson.stdout) as { checks: Check[] }).checks;
    expect(checks.map((c) => [c.check, c.status])).toEqual([
      ["server", "ok"],
      ["clock", "ok"],
      ["transport", "ok"],
      ["credential", "ok"],
      ["host agent", "ok"],
    ]);
    expect(checks.at(-1)!.detail).toContain(`connected to ${s.url} as checked since `);
    expect((await runWarren(["host", "stop"], { env })).code).toBe(0);
    await s.stop();
  });

  test("problems: nothing listening, a server that is not Warren, a login the server revoked — each exit 1 with a hint", async () => {
    const home = tempDir("warren-home-");
    const env = { WARREN_HOME: home, HOME: home };
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    const gone = await runWarren(["doctor", "--server", `http://127.0.0.1:${port}`], { env });
    expect(gone.code).toBe(1);
    expect(gone.stdout).toMatch(/^problem +server +cannot reach http:\/\/127\.0\.0\.1:\d+/m);
    expect(gone.stdout).toContain("hint: is `warren serve` running there");

    const other = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("<html>not found</html>", { status: 404, headers: { "content-type": "text/html" } }) });
    const stranger = await runWarren(["doctor", "--server", `http://127.0.0.1:${other.port}`], { env });
    other.stop(true);
    expect(stranger.code).toBe(1);
    expect(stranger.stdout).toContain("it is not a Warren server (GET /api/server: HTTP 404)");

    const s = await startServer();
    await s.waitFor(/\/pair#token=/);
    const owner = await ownerSession(s);
    expect((await runWarren(["auth", "login", `${s.url}/pair#token=${await pairingLink(s, owner)}`], { env })).code).toBe(0);
    const sessions = await json<{ sessions: { id: string; deviceName: string; current: boolean }[] }>(api(s, owner)("GET", "/api/auth/sessions"));
    const cli = sessions.sessions.find((x) => !x.current && x.deviceName.startsWith("warren CLI on "))!;
    expect((await api(s, owner)("DELETE", `/api/auth/sessions/${cli.id}`)).status).toBe(204);
    const revoked = await runWarren(["doctor", "--server", s.url], { env });
    expect(revoked.code).toBe(1);
    expect(revoked.stdout).toMatch(/^problem +credential +the server rejected the stored session \(HTTP 401\)/m);
    expect(revoked.stdout).toContain("hint: sign in again: warren auth login");
    await s.stop();
  });
});
