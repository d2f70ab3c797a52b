import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { redact } from "../server/log";
import { cleanup, DIALECT, parseLogLines, runWarren, startServer, tempDir, waitUntil } from "./harness";

afterAll(cleanup);

const SECRETS = {
  session: "wss_" + "A".repeat(43),
  apiKey: "sk_live_" + "B".repeat(43),
  jwt: "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJlc2lnbmF0dXJl",
  pairing: "PairingTokenValue_0123456789abcdef",
  cookie: "CookieValue_0123456789abcdefghij",
};

describe(`request log (${DIALECT})`, () => {
  test("one JSON line per request with method, route, status, ms, user id; /healthz only at debug", async () => {
    const s = await startServer();
    await fetch(`${s.url}/healthz`);
    await fetch(`${s.url}/api/auth/session`);
    await fetch(`${s.url}/missing`);
    await waitUntil(() => s.logs().filter((l) => l.msg === "request").length >= 2, 5000, "two request lines");
    await Bun.sleep(100);
    const [ok, missing, ...more] = s.logs().filter((l) => l.msg === "request");
    expect(more).toEqual([]); // the probe is not there
    expect(ok).toMatchObject({ level: "info", method: "GET", route: "/api/auth/session", status: 200, userId: null });
    expect(typeof ok!.ms).toBe("number");
    expect(typeof missing!.requestId).toBe("string");
    expect(missing).toMatchObject({ route: null, path: "/…", status: 404 });
    await s.stop();
  });

  test("no credential reaches the log: not from headers, query strings, paths or cookies", async () => {
    const s = await startServer();
    const headers: Record<string, string>[] = [
      { authorization: `Bearer ${SECRETS.session}` },
      { "x-api-key": SECRETS.apiKey },
      { authorization: `Bearer ${SECRETS.jwt}` },
      { cookie: `warren_session=${SECRETS.cookie}` },
    ];
    for (const h of headers) await fetch(`${s.url}/api/orgs`, { headers: h });
    await fetch(`${s.url}/pair?token=${SECRETS.pairing}`);
    await fetch(`${s.url}/x/${SECRETS.session}/y?ticket=${SECRETS.pairing}`);
    await fetch(`${s.url}/keys/${SECRETS.apiKey}`);
    await fetch(`${s.url}/jwt/${SECRETS.jwt}`, { method: "POST", body: SECRETS.cookie });
    // Unprefixed tokens pasted into a path: nothing shows them to be secrets but where they are.
    await fetch(`${s.url}/pair/${SECRETS.pairing}`);
    await fetch(`${s.url}/ticket/${SECRETS.pairing}`);
    await fetch(`${s.url}/${SECRETS.pairing}`);
    await waitUntil(() => s.logs().filter((l) => l.msg === "request").length >= 11, 5000, "eleven request lines");
    await s.stop();
    const everything = s.stderr() + s.stdout();
    for (const secret of Object.values(SECRETS)) expect(everything).not.toContain(secret);
    const shapes = s.logs().filter((l) => l.msg === "request" && l.route === null).map((l) => l.path);
    expect(shapes).toContain("/pair/…");
    expect(shapes.every((p) => p === "/…" || p === "/pair/…")).toBe(true);
  });

  test("--log-level debug adds the probes; warn keeps only warnings and errors", async () => {
    const debug = await startServer({ args: ["--log-level", "debug"] });
    await fetch(`${debug.url}/healthz`);
    await waitUntil(() => debug.logs().some((l) => l.route === "/healthz"), 5000, "the /healthz line");
    expect(debug.logs().find((l) => l.route === "/healthz")).toMatchObject({ level: "debug", status: 200 });
    const quiet = await startServer({ args: ["--log-level", "warn", "--insecure", "--host", "0.0.0.0"] });
    await fetch(`${quiet.url}/api/auth/session`);
    await Bun.sleep(150);
    expect(quiet.logs().map((l) => l.level)).toEqual(["warn"]); // the --insecure warning, nothing else
    const bad = await runWarren(["serve", "--log-level", "chatty"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--log-level must be one of error, warn, info, debug");
  });

  test("--log-format text: a short line a person reads, the same facts and no secrets", async () => {
    const s = await startServer({ args: ["--log-format", "text"] });
    await fetch(`${s.url}/api/auth/session`);
    await fetch(`${s.url}/pair/${SECRETS.pairing}`);
    await waitUntil(() => s.stderr().includes("/pair/…"), 5000, "two request lines");
    const lines = s.stderr().trim().split("\n");
    expect(lines.some((l) => /^\d\d:\d\d:\d\d INFO  started url=http:\/\/127\.0\.0\.1:\d+ /.test(l))).toBe(true);
    expect(lines.some((l) => /^\d\d:\d\d:\d\d INFO  GET \/api\/auth\/session 200 [\d.]+ ms$/.test(l))).toBe(true);
    expect(lines.some((l) => /^\d\d:\d\d:\d\d INFO  GET \/pair\/… 404 [\d.]+ ms \[[\w-]+\]$/.test(l))).toBe(true);
    expect(s.stderr()).not.toContain(SECRETS.pairing);
    expect(s.stderr()).not.toContain("{");
  });

  test("--log-file gets the JSON lines (0600), stderr stays quiet, stdout keeps the listening line", async () => {
    const logFile = join(tempDir(), "warren.log");
    const s = await startServer({ args: ["--log-file", logFile] });
    await fetch(`${s.url}/api/auth/session`);
    expect(await s.stop()).toBe(0);
    const lines = parseLogLines(readFileSync(logFile, "utf8"));
    expect(lines.map((l) => l.msg).sort()).toEqual(["request", "started", "stopped"]);
    expect(statSync(logFile).mode & 0o777).toBe(0o600);
    expect(s.stderr()).toBe("");
    expect(s.stdout()).toStartWith("warren listening on ");
  });
});

describe("redaction rule", () => {
  test("masks every credential shape and keeps the rest", () => {
    expect(redact(`/a/${SECRETS.session}/b`)).toBe("/a/[redacted]/b");
    expect(redact(`key ${SECRETS.apiKey} end`)).toBe("key [redacted] end");
    expect(redact(`Authorization: Bearer ${SECRETS.pairing}`)).toBe("Authorization: [redacted]");
    expect(redact(`t=${SECRETS.jwt}`)).toBe("t=[redacted]");
    expect(redact(`/pair#token=${SECRETS.pairing}&x=1`)).toBe("/pair#token=[redacted]&x=1");
    expect(redact(`/ws?ticket=${SECRETS.pairing}`)).toBe("/ws?ticket=[redacted]");
    expect(redact(`postgres://u:pw@h/db?password=hunter2`)).toBe("postgres://u:[redacted]@h/db?password=[redacted]");
    expect(redact("/api/orgs/org_123/members")).toBe("/api/orgs/org_123/members");
  });
});
