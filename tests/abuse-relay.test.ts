// A hostile host (issue #13): it holds a valid host JWT and speaks the relay protocol, but what it
// answers is malicious — a message that never ends, statuses and headers no HTTP server sends,
// its own error pages, answers that drip or never come, and thousands of malformed frames. The
// server must answer clients with 502 bad_host_response (never a 500, never the host's text),
// keep its memory bounded and give it back, and stay responsive throughout.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, AS_PROXY, expectNoCredentialIn, issued, json, ownerSession } from "./auth-helpers";
import { rng, rssMb, seedFrom, settledRss, watchHealth } from "./abuse-helpers";
import { cleanup, DIALECT, startServer, type TestServer } from "./harness";
import { fakeHost, hostToken, terminalInfo, type FakeHost } from "./relay-helpers";
import { encode, encodeJson, encodeU32, FRAME, MAX_DATA, MAX_MESSAGE, MSG, type Head, type Open } from "../relay/codec";
import type { Stream } from "../relay/mux";

afterAll(cleanup);

type Answer = (stream: Stream, open: Open) => void | Promise<void>;

describe(`a hostile host (${DIALECT})`, () => {
  let s: TestServer;
  let owner = "";
  let key = "";
  let token = "";
  let host: FakeHost;
  /** What the fake host does with the next streams the server opens; set per test. */
  let answer: Answer = (st) => st.reset();

  beforeAll(async () => {
    s = await startServer({ args: AS_PROXY });
    await s.waitFor(/\/pair#token=/);
    owner = await ownerSession(s);
    const org = (await json<{ activeOrganizationId: string }>(api(s, owner)("GET", "/api/auth/session"))).activeOrganizationId;
    key = (await json<{ key: string }>(api(s, owner)("POST", "/api/api-keys", { name: "evil", organizationId: org }))).key;
    issued.push(key);
    token = await hostToken(s, key, "evil");
    host = await fakeHost(s, token, (st, open) => void Promise.resolve(answer(st, open)).catch(() => st.reset()));
  });
  afterAll(() => s.stop());

  const call = (method: string, path: string, body?: unknown) => api(s, owner)(method, `/api/hosts/${host.hello.hostId}${path}`, body);
  /** Every line the server wrote to stderr is one of its JSON log lines: no raw stack anywhere. */
  const onlyJsonOnStderr = () => expect(s.stderr().split("\n").filter((l) => l.trim() && !l.startsWith("{"))).toEqual([]);

  test("a message that never ends is cut at the relay's limit: the stream is reset, the client told, the memory returned", async () => {
    const tid = "term_endless";
    let sent = 0;
    const seen = { reset: null as number | null };
    answer = async (st, open) => {
      if (open.kind === "terminals") {
        st.respond({ status: 200, body: terminalInfo(tid) });
        return st.end();
      }
      st.respond({ status: 200 });
      const piece = new Uint8Array(MAX_DATA);
      piece[0] = MSG.BINARY; // never the "last" flag
      while (st.resetCode === null && sent < 4 * MAX_MESSAGE) {
        await st.write(piece);
        sent += piece.length;
      }
      seen.reset = st.resetCode;
    };
    const before = rssMb(s.proc.pid);
    const health = watchHealth(s.url);
    const ws = new WebSocket(`${s.url.replace(/^http/, "ws")}/api/hosts/${host.hello.hostId}/terminals/${tid}/attach`, { headers: { authorization: `Bearer ${owner}` } } as unknown as string[]);
    const code = await new Promise<number>((r) => (ws.onclose = (e) => r(e.code)));
    for (let i = 0; i < 200 && seen.reset === null; i++) await Bun.sleep(25);
    const { slowPairs } = await health.stop();
    expect(code).toBe(4503);
    expect(seen.reset).toBe(2); // RST_CODE.PROTOCOL
    expect(sent).toBeLessThan(MAX_MESSAGE + 2 * 1024 * 1024);
    expect(slowPairs).toEqual([]);
    expect(await settledRss(s.proc.pid, before, 50)).toBeLessThan(before + 50);
  }, 60_000);

  test("a terminal call answered wrongly is 502 bad_host_response, in Warren's words, never the host's", async () => {
    const page = `<html><body>${"<script>alert(1)</script>".repeat(200)}</body></html>`;
    const heads: [string, Head | ((st: Stream) => void), number, string][] = [
      ["a list without a body", { status: 200 }, 502, "bad_host_response"],
      ["a list of the wrong shape", { status: 200, body: { terminals: [{ id: "<b>", cmd: "rm -rf /" }] } }, 502, "bad_host_response"],
      ["an error page of its own", { status: 500, body: { error: { code: "boom", message: page } } }, 502, "bad_host_response"],
      ["a known refusal with its own text", { status: 400, body: { error: { code: "invalid_request", message: page } } }, 400, "invalid_request"],
      ["an error that is HTML", { status: 503, body: page }, 502, "bad_host_response"],
      ["status 999", (st) => host.raw(encodeJson(FRAME.HEAD, st.id, { status: 999 })), 502, "bad_host_response"],
      ["a HEAD that is not JSON", (st) => host.raw(encode(FRAME.HEAD, st.id, new TextEncoder().encode(page))), 502, "bad_host_response"],
      ["a redirect", { status: 302, body: { terminals: [] } }, 502, "bad_host_response"],
    ];
    for (const [what, head, status, code] of heads) {
      answer = (st) => {
        if (typeof head === "function") return head(st);
        st.respond(head);
        st.end();
      };
      const r = await call("GET", "/terminals");
      const text = await r.text();
      expect(`${what}: ${r.status} ${JSON.parse(text).error?.code}`).toBe(`${what}: ${status} ${code}`);
      expect(text).not.toContain("script");
      expect(text.length).toBeLessThan(400);
    }
    answer = (st) => {
      st.respond({ status: 201, body: { id: "term_x", cmd: ["sh"] } });
      st.end();
    };
    expect((await call("POST", "/terminals", { cmd: ["sh"] })).status).toBe(502);
    onlyJsonOnStderr();
  });

  test("an exposed port's answer with a bad status or headers is 502; a good one loses its cookies and gains a sandbox", async () => {
    const cases: [string, Head, number][] = [
      ["a space in a header name", { status: 200, headers: [["x bad", "1"]] }, 502],
      ["CRLF in a header value", { status: 200, headers: [["x-a", "a\r\nset-cookie: warren_session=evil"]] }, 502],
      ["NUL in a header value", { status: 200, headers: [["x-a", "a\u0000b"]] }, 502],
      ["status 101 on plain HTTP", { status: 101, headers: [] }, 502],
      ["too many headers", { status: 200, headers: Array.from({ length: 5000 }, (_, i): [string, string] => [`x-h${i}`, "v"]) }, 502],
      ["one enormous header", { status: 200, headers: [["x-big", "v".repeat(200_000)]] }, 502],
      ["a fine answer", { status: 200, headers: [["content-type", "text/html"], ["set-cookie", "warren_session=evil; Path=/"], ["x-fine", "yes"]] }, 200],
    ];
    for (const [what, head, status] of cases) {
      answer = (st, open) => {
        expect(open.kind).toBe("http");
        st.respond(head);
        void st.write(new TextEncoder().encode("<script>document.cookie</script>")).then(() => st.end());
      };
      const r = await call("GET", "/ports/8080/");
      const body = await r.text();
      expect(`${what}: ${r.status}`).toBe(`${what}: ${status}`);
      if (status === 200) {
        expect(r.headers.get("set-cookie")).toBeNull();
        expect(r.headers.get("content-security-policy")).toBe("sandbox");
        expect(r.headers.get("x-fine")).toBe("yes");
      } else expect((JSON.parse(body) as { error: { code: string } }).error.code).toBe("bad_host_response");
    }
    onlyJsonOnStderr();
  });

  test("a host that drips its answer, or never answers, holds nothing once the client leaves", async () => {
    let reset = 0;
    // Never answers: only the client's departure ends this stream.
    answer = (st) => void st.closed.then(() => st.resetCode !== 0 && reset++);
    const never = await fetch(`${s.url}/api/hosts/${host.hello.hostId}/ports/8080/`, { headers: { authorization: `Bearer ${owner}` }, signal: AbortSignal.timeout(300) }).catch((e) => e as Error);
    expect(never).toBeInstanceOf(Error);
    const dripped: number[] = [];
    answer = async (st) => {
      st.closed.then(() => st.resetCode !== 0 && reset++);
      st.respond({ status: 200, headers: [["content-type", "application/octet-stream"]] });
      for (let i = 0; i < 1000 && st.resetCode === null; i++) {
        await st.write(new Uint8Array([i & 0xff]));
        await Bun.sleep(20);
      }
    };
    const health = watchHealth(s.url);
    const controller = new AbortController();
    const r = await fetch(`${s.url}/api/hosts/${host.hello.hostId}/ports/8080/`, { headers: { authorization: `Bearer ${owner}` }, signal: controller.signal });
    const reader = r.body!.getReader();
    while (dripped.length < 10) dripped.push(...((await reader.read()).value ?? []));
    controller.abort();
    const { slowPairs } = await health.stop();
    for (let i = 0; i < 100 && reset < 2; i++) await Bun.sleep(20);
    expect(dripped.slice(0, 3)).toEqual([0, 1, 2]);
    expect(reset).toBe(2);
    expect(slowPairs).toEqual([]);
  });

  test("the host's JWT and the key behind it never reached the server's output", () => expectNoCredentialIn([s], [token, key]));

  test("5,000 malformed relay frames from a host with a valid JWT: clean 502s for clients, a live server, memory back", async () => {
    const seed = seedFrom(1313);
    const r = rng(seed);
    const before = rssMb(s.proc.pid);
    const health = watchHealth(s.url);
    let fuzzHost = host;
    let sent = 0;
    const statuses = new Map<number, number>();
    const junkHead = (): Uint8Array =>
      r.pick([
        () => r.bytes(r.int(64)),
        () => new TextEncoder().encode(JSON.stringify({ status: r.pick([0, 99, 600, 1e9, -1, "200", null, 200.5]) })),
        () => new TextEncoder().encode("[".repeat(r.int(100_000))),
        () => new TextEncoder().encode(JSON.stringify({ status: 200, headers: r.pick([[["a"]], "x", [[1, 2]], [["ok", "fine"]]]) })),
      ])();
    // Clients keep asking while the host misbehaves: each answer must be one of ours.
    let asking = true;
    const clients = (async () => {
      while (asking) {
        const res = await fetch(`${s.url}/api/hosts/evil/${r.pick(["terminals", "ports/8080/x"])}`, { headers: { authorization: `Bearer ${owner}` }, signal: AbortSignal.timeout(2000) }).catch(() => null);
        if (res) statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        await res?.arrayBuffer().catch(() => {});
      }
    })();
    answer = (st) => fuzzHost.raw(encode(FRAME.HEAD, st.id, junkHead()));
    while (sent < 5000) {
      if ((await Promise.race([fuzzHost.closed, Bun.sleep(0).then(() => null)])) !== null) {
        fuzzHost = await fakeHost(s, token, (st, open) => void Promise.resolve(answer(st, open)).catch(() => st.reset()));
      }
      const id = r.int(2) ? r.int(64) * 2 + 1 : r.int(64) * 2;
      const frame = r.pick([
        () => r.bytes(r.int(40)),
        () => encode(r.pick([FRAME.DATA, FRAME.WINDOW, FRAME.FIN, FRAME.RST, FRAME.HEAD]), id, r.bytes(r.int(300))),
        () => encodeU32(FRAME.WINDOW, id, r.int(2 ** 32)),
        () => encodeJson(FRAME.OPEN, id, { kind: r.pick(["terminals", "http", "nope"]), caller: { userId: "x", orgId: "y" } }),
        () => encode(FRAME.DATA, id, r.bytes(MAX_DATA + r.int(100))),
        () => encode(r.pick([FRAME.PING, FRAME.PONG, FRAME.GOAWAY]), 0, r.bytes(r.int(20))),
        () => encode(FRAME.HELLO, 0, r.bytes(10)),
        () => new Uint8Array([r.int(256), r.int(256)]),
      ])();
      fuzzHost.raw(frame);
      sent++;
      if (sent % 50 === 0) await Bun.sleep(1);
    }
    asking = false;
    await clients;
    const { slowPairs } = await health.stop();
    const bad = [...statuses.keys()].filter((c) => c >= 500 && c !== 502 && c !== 503);
    if (bad.length || slowPairs.length) console.error(`relay fuzz seed ${seed}: statuses ${JSON.stringify([...statuses])}, slow ${JSON.stringify(slowPairs)}`);
    expect(bad).toEqual([]);
    expect(slowPairs).toEqual([]);
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    expect(await settledRss(s.proc.pid, before, 50)).toBeLessThan(before + 50);
    onlyJsonOnStderr();
  }, 120_000);
});
