// /metrics (Prometheus text format), scraped and parsed with a real parser: every family an
// operator needs is there, and the counters move with the work — requests, auth outcomes, stream
// appends and readers, relay bytes, terminal output, database writes, the process. Off the main
// port unless asked, and then only for an owner's credential.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import { api, AS_PROXY, issued, json, ownerSession, pairingLink, sessionFrom } from "./auth-helpers";
import { cleanup, DIALECT, spawnWarren, startServer, tempDir, waitUntil, type Proc, type TestServer } from "./harness";
import { attach, attachUrl } from "./term-helpers";

afterAll(cleanup);

interface Family {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string; count?: string; buckets?: Record<string, string> }[];
}

describe(`metrics (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let key = "";
  let metricsUrl = "";
  let agent: Proc;
  const origin = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("x".repeat(100_000)) });

  beforeAll(async () => {
    s = await startServer({ args: [...AS_PROXY, "--metrics-addr", "127.0.0.1:0", "--metrics-public", "--long-poll-timeout", "300ms"] });
    metricsUrl = (await s.waitFor(/metrics: (http:\/\/\S+)/))[1]!;
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    const org = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    key = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "metrics", organizationId: org }))).key;
    issued.push(key);
    const home = tempDir("warren-host-");
    agent = spawnWarren(["host", "start", "--server", s.url, "--name", "metered", "--expose", String(origin.port)], { env: { WARREN_HOME: home, HOME: home, WARREN_API_KEY: key } });
    await agent.waitFor(/connected: metered/);
  });
  afterAll(async () => {
    agent.proc.kill("SIGTERM");
    await agent.exited;
    await s.stop();
    origin.stop(true);
  });

  const scrape = async (url = metricsUrl, init: RequestInit = {}) => {
    const r = await fetch(url, init);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/plain");
    return parsePrometheusTextFormat(await r.text()) as Family[];
  };
  const value = (families: Family[], name: string, labels: Record<string, string> = {}) =>
    families
      .find((f) => f.name === name)
      ?.metrics.filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v))
      .reduce((n, m) => n + Number(m.value ?? m.count ?? 0), 0) ?? NaN;

  test("every family is there, of the right type", async () => {
    const families = await scrape();
    const types = Object.fromEntries(families.map((f) => [f.name, f.type]));
    expect(types).toMatchObject({
      warren_http_requests_total: "COUNTER",
      warren_http_request_duration_seconds: "HISTOGRAM",
      warren_auth_attempts_total: "COUNTER",
      warren_stream_appends_total: "COUNTER",
      warren_stream_append_bytes_total: "COUNTER",
      warren_stream_batch_ops: "HISTOGRAM",
      warren_stream_commit_duration_seconds: "HISTOGRAM",
      warren_stream_live_readers: "GAUGE",
      warren_relay_hosts_online: "GAUGE",
      warren_relay_streams_open: "GAUGE",
      warren_relay_bytes_total: "COUNTER",
      warren_relay_credit_stalls_total: "COUNTER",
      warren_terminal_sessions: "GAUGE",
      warren_terminal_clients: "GAUGE",
      warren_terminal_output_bytes_total: "COUNTER",
      warren_terminal_ring_overflows_total: "COUNTER",
      warren_db_write_duration_seconds: "HISTOGRAM",
      warren_db_writes_waiting: "GAUGE",
      warren_log_write_errors: "GAUGE",
      warren_process_resident_memory_bytes: "GAUGE",
      warren_process_cpu_seconds_total: "COUNTER",
      warren_process_open_fds: "GAUGE",
      warren_event_loop_lag_seconds: "GAUGE",
    });
    expect(value(families, "warren_relay_hosts_online")).toBe(1);
    expect(value(families, "warren_process_resident_memory_bytes")).toBeGreaterThan(10_000_000);
    expect(value(families, "warren_process_open_fds")).toBeGreaterThan(3);
  });

  test("the counters move with the work", async () => {
    const beforeText = await (await fetch(metricsUrl)).text();
    const before = await scrape();
    // Requests, and auth outcomes by kind: ok, refused, forbidden.
    for (let i = 0; i < 5; i++) await api(s, owner)("GET", "/api/orgs");
    await api(s, `wss_${"Q".repeat(43)}`)("GET", "/api/orgs");
    const bob = await sessionFrom(s, await pairingLink(s, owner));
    await api(s, null, { "x-api-key": key })("POST", "/api/api-keys", { name: "no", organizationId: "x" });
    // Streams: appends and bytes, and a reader waiting.
    await fetch(`${s.url}/v1/stream/m`, { method: "PUT", headers: { authorization: `Bearer ${key}`, "content-type": "text/plain" } });
    for (let i = 0; i < 10; i++) await fetch(`${s.url}/v1/stream/m`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "text/plain" }, body: "0123456789" });
    const waiting = fetch(`${s.url}/v1/stream/m?offset=now&live=long-poll`, { headers: { authorization: `Bearer ${key}` } });
    // Relay bytes: 100 KB from the host's exposed port.
    expect((await (await fetch(`${s.url}/api/hosts/metered/ports/${origin.port}/`, { headers: { authorization: `Bearer ${owner}` } })).text()).length).toBe(100_000);
    // Terminal output on the server's own host, and a client attached.
    const t = await json<{ id: string }>(api(s, owner)("POST", "/api/hosts/local/terminals", { cmd: ["sh", "-c", "head -c 50000 /dev/zero | tr '\\\\0' x; sleep 30"] }));
    const client = attach(attachUrl(s, t.id), { headers: { authorization: `Bearer ${owner}` } });
    await waitUntil(() => client.offset() >= 50_000, 10_000, "the terminal's output");
    const during = await scrape();
    expect(value(during, "warren_stream_live_readers")).toBeGreaterThanOrEqual(1);
    expect(value(during, "warren_terminal_clients")).toBeGreaterThanOrEqual(1);
    expect(value(during, "warren_terminal_sessions", { state: "running" })).toBeGreaterThanOrEqual(1);
    client.ws.close();
    await waiting;
    const after = await scrape();
    const moved = (name: string, labels: Record<string, string> = {}) => value(after, name, labels) - (value(before, name, labels) || 0);
    expect(moved("warren_http_requests_total", { route: "/api/orgs", method: "GET", status: "200" })).toBe(5);
    // (The parser folds a labelled histogram into one; its per-label count is read off the text.)
    const count = (text: string) => Number(/warren_http_request_duration_seconds_count\{route="\/api\/orgs",status="200"\} (\d+)/.exec(text)?.[1] ?? 0);
    expect(count(await (await fetch(metricsUrl)).text()) - count(beforeText)).toBe(5);
    expect(moved("warren_auth_attempts_total", { credential: "session", outcome: "ok" })).toBeGreaterThanOrEqual(5);
    expect(moved("warren_auth_attempts_total", { credential: "session", outcome: "refused" })).toBe(1);
    expect(moved("warren_auth_attempts_total", { credential: "api-key", outcome: "ok" })).toBeGreaterThanOrEqual(11);
    expect(moved("warren_stream_appends_total")).toBe(10);
    expect(moved("warren_stream_append_bytes_total")).toBe(100);
    expect(moved("warren_stream_commit_duration_seconds")).toBeGreaterThanOrEqual(1);
    expect(moved("warren_relay_bytes_total", { direction: "from_host" })).toBeGreaterThanOrEqual(100_000);
    expect(moved("warren_terminal_output_bytes_total")).toBeGreaterThanOrEqual(50_000);
    expect(moved("warren_db_write_duration_seconds")).toBeGreaterThanOrEqual(1);
    // Never a credential: not in a label, not anywhere.
    const text = await (await fetch(metricsUrl)).text();
    for (const c of [owner, key, bob, ...issued]) expect(text).not.toContain(c);
  });

  test("on the main port only with --metrics-public, and only for an owner of the first organization", async () => {
    expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
    const member = await sessionFrom(s, await pairingLink(s, owner, { invite: { email: "m@example.com", organizationId: (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId, role: "member" } }));
    expect((await api(s, member)("GET", "/metrics")).status).toBe(403);
    const families = await scrape(`${s.url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
    expect(families.some((f) => f.name === "warren_http_requests_total")).toBe(true);
    // The metrics listener serves nothing else.
    expect((await fetch(metricsUrl.replace("/metrics", "/api/orgs"))).status).toBe(404);
    const plain = await startServer();
    expect((await fetch(`${plain.url}/metrics`, { headers: { authorization: `Bearer ${owner}` } })).status).toBe(404);
    expect(plain.stdout()).not.toContain("metrics:");
    await plain.stop();
  });
});
