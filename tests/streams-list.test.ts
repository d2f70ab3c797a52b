// GET /api/streams: the org's streams by path, paged with a cursor, filtered by prefix; another
// org's streams never appear; bad queries are a 400 that says what is wrong; deleted and expired
// streams are not listed.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, json } from "./auth-helpers";
import { cleanup, DIALECT } from "./harness";
import { apiKey, streamServer, type StreamServer } from "./stream-helpers";
import type { ListedStream as Listed } from "../server/streams/list";

afterAll(cleanup);

type Page = { streams: Listed[]; next: string | null };

describe(`GET /api/streams (${DIALECT})`, () => {
  let t: StreamServer;
  const list = (query = "", key = t.key, headers: Record<string, string> = {}) =>
    fetch(`${t.server.url}/api/streams${query ? `?${query}` : ""}`, { headers: { authorization: `Bearer ${key}`, ...headers } });
  const put = (path: string, headers: Record<string, string> = {}, body?: string) =>
    t.s(path, { method: "PUT", headers: { "content-type": "text/plain", ...headers }, body });

  beforeAll(async () => {
    t = await streamServer();
  });
  afterAll(() => t.server.stop());

  test("lists the org's streams in path order with what each one is", async () => {
    expect((await list()).status).toBe(200);
    expect((await put("list/b", {}, "hello")).status).toBe(201);
    expect((await put("list/a", { "content-type": "application/json", "stream-ttl": "3600" })).status).toBe(201);
    expect((await put("list/c", { "stream-closed": "true", "stream-expires-at": "2099-01-01T00:00:00Z" })).status).toBe(201);
    expect((await put("other/x")).status).toBe(201);
    const page = await json<Page>(list("prefix=list/"));
    expect(page.next).toBeNull();
    expect(page.streams.map((s) => s.path)).toEqual(["list/a", "list/b", "list/c"]);
    const [a, b, c] = page.streams;
    expect(a).toMatchObject({ contentType: "application/json", bytes: 0, closed: false, ttlSeconds: 3600 });
    expect(Date.parse(a!.expiresAt!)).toBeGreaterThan(Date.now());
    expect(b).toMatchObject({ contentType: "text/plain", bytes: 5, nextOffset: "0000000000000000_0000000000000005", closed: false, ttlSeconds: null, expiresAt: null });
    expect(Date.parse(b!.createdAt)).toBeGreaterThan(Date.now() - 600_000);
    expect(c).toMatchObject({ closed: true, expiresAt: "2099-01-01T00:00:00.000Z" });
    // Without a prefix: everything, other/x included.
    expect((await json<Page>(list())).streams.map((s) => s.path)).toEqual(expect.arrayContaining(["list/a", "other/x"]));
  });

  test("a prefix is matched exactly: case, and % and _ are not wildcards", async () => {
    for (const p of ["pfx/Upper", "pfx/upper", "pfx_x", "pfxAx", "pfx%25y"]) expect((await put(p)).status).toBe(201);
    const paths = async (prefix: string) => (await json<Page>(list(new URLSearchParams({ prefix }).toString()))).streams.map((s) => s.path);
    expect(await paths("pfx/U")).toEqual(["pfx/Upper"]);
    expect(await paths("pfx_")).toEqual(["pfx_x"]);
    expect(await paths("pfx%")).toEqual(["pfx%25y"]);
    expect(await paths("nothing-here/")).toEqual([]);
    // Byte order on both databases, whatever Postgres' collation would say.
    expect(await paths("pfx")).toEqual(["pfx%25y", "pfx/Upper", "pfx/upper", "pfxAx", "pfx_x"]);
  });

  test("pages with a cursor until next is null, each stream once, in byte order", async () => {
    const names = Array.from({ length: 23 }, (_, i) => `page/${String(i).padStart(2, "0")}`);
    for (const n of names) expect((await put(n)).status).toBe(201);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Page = await json<Page>(list(new URLSearchParams({ prefix: "page/", limit: "5", ...(cursor ? { cursor } : {}) }).toString()));
      expect(page.streams.length).toBeLessThanOrEqual(5);
      seen.push(...page.streams.map((s) => s.path));
      cursor = page.next;
      pages++;
    } while (cursor && pages < 20);
    expect(seen).toEqual(names);
    expect(pages).toBe(5);
  });

  test("bad queries are a 400 that says what is wrong", async () => {
    for (const [q, words] of [
      ["limit=0", "limit is a whole number from 1 to 1000"],
      ["limit=1001", "limit is a whole number from 1 to 1000"],
      ["limit=ten", "limit is a whole number from 1 to 1000"],
      ["limit=1.5", "limit is a whole number from 1 to 1000"],
      ["cursor=!!!", "cursor: not one this server gave"],
      [`prefix=${"x".repeat(1025)}`, "prefix is at most 1024 characters"],
    ] as const) {
      const r = await list(q);
      expect(r.status).toBe(400);
      const body = await json<{ error: { code: string; message: string } }>(r);
      expect(body.error.code).toBe("invalid_request");
      expect(body.error.message).toContain(words);
    }
  });

  test("needs a credential", async () => {
    const r = await fetch(`${t.server.url}/api/streams`);
    expect(r.status).toBe(401);
  });

  test("another org's streams never appear, with its key or a session asking for it", async () => {
    const owner = api(t.server, t.session);
    const org = await json<{ id: string }>(owner("POST", "/api/orgs", { slug: "list-b", name: "List B" }));
    const keyB = await apiKey(t.server, t.session, "list-b", org.id);
    expect((await json<Page>(list("", keyB))).streams).toEqual([]);
    expect((await fetch(`${t.server.url}/v1/stream/b-only`, { method: "PUT", headers: { authorization: `Bearer ${keyB}`, "content-type": "text/plain" } })).status).toBe(201);
    expect((await json<Page>(list("", keyB))).streams.map((s) => s.path)).toEqual(["b-only"]);
    expect((await json<Page>(list())).streams.map((s) => s.path)).not.toContain("b-only");
    // A session lists the org it asks for (X-Warren-Org), or its active one.
    expect((await json<Page>(list("", t.session, { "x-warren-org": org.id }))).streams.map((s) => s.path)).toEqual(["b-only"]);
    expect((await json<Page>(list("prefix=list/", t.session))).streams.map((s) => s.path)).toEqual(["list/a", "list/b", "list/c"]);
    // A key bound to one org cannot ask for the other.
    const cross = await list("", t.key, { "x-warren-org": org.id });
    expect(cross.status).toBe(403);
  });

  test("deleted streams are gone from the list", async () => {
    expect((await put("doomed/one")).status).toBe(201);
    expect((await json<Page>(list("prefix=doomed/"))).streams).toHaveLength(1);
    expect((await t.s("doomed/one", { method: "DELETE" })).status).toBe(204);
    expect((await json<Page>(list("prefix=doomed/"))).streams).toEqual([]);
  });
});
