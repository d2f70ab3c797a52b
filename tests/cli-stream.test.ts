// warren stream create | append | read | tail | ls | rm against a real server, as real CLI processes with
// an API key (WARREN_API_KEY) and WARREN_SERVER: exact bytes through stdin and stdout, JSON
// streams, multi-megabyte reads, live tails (including one through a connection that
// drops) and the failures a person sees.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { cleanup, DIALECT, MAIN, runWarren, spawnWarren, tempDir, waitUntil } from "./harness";
import { api, json } from "./auth-helpers";
import { apiKey, streamServer, type StreamServer } from "./stream-helpers";

afterAll(cleanup);

/** A CLI process with stdin as given and stdout kept as bytes. */
function cli(args: string[], env: Record<string, string>, stdin?: Uint8Array | string) {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  delete childEnv.WARREN_TEST_DATABASE_URL;
  const p = Bun.spawn([process.execPath, MAIN, ...args], {
    env: childEnv as Record<string, string>,
    stdin: stdin === undefined ? "ignore" : typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin,
    stdout: "pipe",
    stderr: "pipe",
  });
  const chunks: Uint8Array[] = [];
  let stderr = "";
  const pumped = Promise.all([
    (async () => {
      for await (const c of p.stdout as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
    })(),
    (async () => {
      for await (const c of p.stderr as unknown as AsyncIterable<Uint8Array>) stderr += new TextDecoder().decode(c);
    })(),
  ]);
  const bytes = () => new Uint8Array(Buffer.concat(chunks));
  return {
    p,
    bytes,
    text: () => new TextDecoder().decode(bytes()),
    stderr: () => stderr,
    done: async () => {
      const code = await p.exited;
      await pumped;
      return { code, stdout: bytes(), text: new TextDecoder().decode(bytes()), stderr };
    },
  };
}

describe(`warren stream (${DIALECT})`, () => {
  let t: StreamServer;
  let env: Record<string, string>;
  const run = (args: string[], stdin?: Uint8Array | string) => cli(["stream", ...args], env, stdin).done();

  beforeAll(async () => {
    t = await streamServer();
    env = { WARREN_SERVER: t.server.url, WARREN_API_KEY: t.key, WARREN_HOME: tempDir() };
  });
  afterAll(() => t.server.stop());

  test("--help for each command", async () => {
    for (const name of ["create", "append", "read", "tail"]) {
      const r = await runWarren(["stream", name, "--help"], { env });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: warren stream ${name} <path>`);
    }
    for (const [name, usage] of [["ls", "warren stream ls [--prefix P] [--json]"], ["rm", "warren stream rm <path>"]]) {
      const r = await runWarren(["stream", name!, "-h"], { env });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: ${usage}`);
    }
    const group = await runWarren(["stream", "--help"], { env });
    expect(group.code).toBe(0);
    expect(group.stdout).toContain("warren stream tail");
  });

  test("create, append from arguments and binary stdin, read: the exact bytes", async () => {
    const created = await run(["create", "cli/bin"]);
    expect(created.code).toBe(0);
    expect(created.text.trim()).toBe("0000000000000000_0000000000000000");
    expect(created.stderr).toContain("created stream cli/bin (application/octet-stream)");

    const again = await run(["create", "cli/bin"]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("already exists with the same configuration");
    const different = await run(["create", "cli/bin", "--content-type", "text/plain"]);
    expect(different.code).toBe(1);
    expect(different.stderr).toContain("different configuration");

    const a = await run(["append", "cli/bin", "hello", "world"]);
    expect(a.code).toBe(0);
    expect(a.text.trim()).toBe("0000000000000000_0000000000000011");
    const binary = new Uint8Array([...Array.from({ length: 256 }, (_, i) => i), 0, 0, 13, 10, 255, 254]);
    const b = await run(["append", "cli/bin"], binary);
    expect(b.code).toBe(0);
    expect(b.text.trim()).toBe(`0000000000000000_${String(11 + binary.length).padStart(16, "0")}`);

    const read = await run(["read", "cli/bin"]);
    expect(read.code).toBe(0);
    expect(Buffer.from(read.stdout).equals(Buffer.concat([Buffer.from("hello world"), binary]))).toBe(true);
    expect(read.stderr).toContain(`next offset 0000000000000000_${String(11 + binary.length).padStart(16, "0")}`);

    // From an offset printed before: only what follows it.
    const rest = await run(["read", "cli/bin", "--offset", a.text.trim()]);
    expect(Buffer.from(rest.stdout).equals(Buffer.from(binary))).toBe(true);

    const closed = await run(["append", "cli/bin", "--close"]);
    expect(closed.code).toBe(0);
    const after = await run(["read", "cli/bin", "--offset", b.text.trim()]);
    expect(after.stdout.length).toBe(0);
    expect(after.stderr).toContain(", closed");
    const refused = await run(["append", "cli/bin", "more"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("closed");

    expect((await run(["create", "cli/expiring", "--expires-at", "2030-01-01T00:00:00Z"])).code).toBe(0);
    expect((await t.s("cli/expiring", { method: "HEAD" })).headers.get("stream-expires-at")).toBe("2030-01-01T00:00:00.000Z");
    expect((await run(["create", "cli/kept", "--ttl", "90m"])).code).toBe(0);
    expect((await t.s("cli/kept", { method: "HEAD" })).headers.get("stream-ttl")).toBe("5400");
    expect((await run(["create", "cli/both", "--ttl", "1h", "--expires-at", "2030-01-01T00:00:00Z"])).code).toBe(2);
    expect((await run(["create", "cli/soon", "--ttl", "soon"])).code).toBe(2);

    const nothing = await run(["append", "cli/bin"]);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain("nothing to append");
  });

  test("a JSON stream: append values, read them as one array or as JSON lines", async () => {
    expect((await run(["create", "cli/events", "--json", "--ttl", "1h"])).code).toBe(0);
    expect((await run(["append", "cli/events", "--json", '{"type":"a","n":1}'])).code).toBe(0);
    expect((await run(["append", "cli/events", "--json"], '[2, "three"]')).code).toBe(0);
    const array = await run(["read", "cli/events"]);
    expect(array.code).toBe(0);
    expect(JSON.parse(array.text)).toEqual([{ type: "a", n: 1 }, 2, "three"]);
    const lines = await run(["read", "cli/events", "--json"]);
    expect(lines.text).toBe('{"type":"a","n":1}\n2\n"three"\n');

    const bad = await run(["append", "cli/events", "--json", "not json"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("not valid JSON");
    // Without --json or --content-type an append takes the stream's own type.
    expect((await run(["append", "cli/events", '{"n":4}'])).code).toBe(0);
    expect(JSON.parse((await run(["read", "cli/events"])).text).at(-1)).toEqual({ n: 4 });
    const notJson = await run(["append", "cli/events", "plain bytes"]);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toContain("not valid JSON");
    const wrongType = await run(["append", "cli/events", "--content-type", "text/plain", "plain bytes"]);
    expect(wrongType.code).toBe(1);
    expect(wrongType.stderr).toContain("--content-type");
  });

  test("a read of several MB (streamed from storage page by page in one response) is byte-exact", async () => {
    expect((await run(["create", "cli/big"])).code).toBe(0);
    const parts = [randomBytes(2_500_000), randomBytes(2_500_000), randomBytes(1_000_000)];
    for (const part of parts) expect((await run(["append", "cli/big"], part)).code).toBe(0);
    // More than one storage page (1 MiB), served as one response that reaches the tail.
    const first = await t.s("cli/big?offset=-1");
    expect((await first.arrayBuffer()).byteLength).toBe(6_000_000);
    expect(first.headers.get("stream-up-to-date")).toBe("true");

    const read = await run(["read", "cli/big"]);
    expect(read.code).toBe(0);
    expect(read.stdout.length).toBe(6_000_000);
    expect(Buffer.from(read.stdout).equals(Buffer.concat(parts))).toBe(true);
  });

  test("tail from now gets appends made after it started, and exits 0 when the stream is closed", async () => {
    expect((await run(["create", "cli/live", "--content-type", "text/plain"])).code).toBe(0);
    expect((await run(["append", "cli/live", "--content-type", "text/plain", "before;"])).code).toBe(0);
    const tail = cli(["stream", "tail", "cli/live"], env);
    // Keep appending until the tail shows one: then it is certainly following.
    await waitUntil(async () => {
      await run(["append", "cli/live", "--content-type", "text/plain", "tick;"]);
      return tail.text().includes("tick;");
    }, 20_000, "the tail to follow");
    expect((await run(["append", "cli/live", "--content-type", "text/plain", "--close", "last\n"])).code).toBe(0);
    const r = await tail.done();
    expect(r.code).toBe(0);
    expect(r.text).not.toContain("before;");
    expect(r.text).toMatch(/^(tick;)+last\n$/);
    expect(r.stderr).toContain("stream cli/live is closed");
  });

  test("tail of a binary stream from the start decodes base64 to the exact bytes; a JSON tail prints lines", async () => {
    expect((await run(["create", "cli/tailbin"])).code).toBe(0);
    const first = randomBytes(3000);
    expect((await run(["append", "cli/tailbin"], first)).code).toBe(0);
    const tail = cli(["stream", "tail", "cli/tailbin", "--offset=-1"], env);
    await waitUntil(() => tail.bytes().length >= first.length, 20_000, "the first bytes");
    const second = new Uint8Array([0, 10, 13, 255, 0x1b, 0x3d]);
    expect((await run(["append", "cli/tailbin", "--close"], second)).code).toBe(0);
    const r = await tail.done();
    expect(r.code).toBe(0);
    expect(Buffer.from(r.stdout).equals(Buffer.concat([first, second]))).toBe(true);

    expect((await run(["create", "cli/tailjson", "--json"])).code).toBe(0);
    expect((await run(["append", "cli/tailjson", "--json", "[1,2]"])).code).toBe(0);
    const jt = cli(["stream", "tail", "cli/tailjson", "--offset", "start", "--json"], env);
    await waitUntil(() => jt.text() === "1\n2\n", 20_000, "the JSON values");
    expect((await run(["append", "cli/tailjson", "--json", "--close", '{"done":true}'])).code).toBe(0);
    const jr = await jt.done();
    expect(jr.code).toBe(0);
    expect(jr.text).toBe('1\n2\n{"done":true}\n');
  });

  test("Ctrl-C ends a tail with exit 0 and nothing on stderr", async () => {
    expect((await run(["create", "cli/interrupt"])).code).toBe(0);
    const tail = cli(["stream", "tail", "cli/interrupt"], env);
    await waitUntil(async () => {
      await run(["append", "cli/interrupt", "x"]);
      return tail.bytes().length > 0;
    }, 20_000, "the tail to follow");
    tail.p.kill("SIGINT");
    const r = await tail.done();
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
  });

  test("a tail whose connection drops says so, reconnects from where it was and repeats nothing", async () => {
    // A TCP proxy in front of the server whose connections the test can cut.
    const target = new URL(t.server.url);
    const open = new Set<{ end(): void }>();
    const proxy = Bun.listen<{ upstream?: Awaited<ReturnType<typeof Bun.connect>>; queue: Uint8Array[] }>({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        async open(client) {
          client.data = { queue: [] };
          open.add(client);
          const upstream = await Bun.connect({
            hostname: target.hostname,
            port: Number(target.port),
            socket: {
              data: (_s, d) => void client.write(d),
              close: () => void client.end(),
              error: () => void client.end(),
            },
          });
          open.add(upstream);
          client.data.upstream = upstream;
          for (const d of client.data.queue) upstream.write(d);
        },
        data(client, d) {
          if (client.data.upstream) client.data.upstream.write(d);
          else client.data.queue.push(new Uint8Array(d));
        },
        close(client) {
          client.data.upstream?.end();
        },
      },
    });
    try {
      expect((await run(["create", "cli/drop", "--content-type", "text/plain"])).code).toBe(0);
      expect((await run(["append", "cli/drop", "--content-type", "text/plain", "one;"])).code).toBe(0);
      const tail = cli(["stream", "tail", "cli/drop", "--offset=-1"], { ...env, WARREN_SERVER: `http://127.0.0.1:${proxy.port}` });
      await waitUntil(() => tail.text() === "one;", 20_000, "the first data");
      for (const s of [...open]) s.end();
      open.clear();
      await waitUntil(() => tail.stderr().includes("reconnecting"), 20_000, "the drop to be noticed");
      expect((await run(["append", "cli/drop", "--content-type", "text/plain", "two;"])).code).toBe(0);
      await waitUntil(() => tail.text().includes("two;"), 20_000, "data after the reconnect");
      expect((await run(["append", "cli/drop", "--content-type", "text/plain", "--close", "three;"])).code).toBe(0);
      const r = await tail.done();
      expect(r.code).toBe(0);
      expect(r.text).toBe("one;two;three;");
    } finally {
      proxy.stop(true);
    }
  });

  test("ls lists the org's streams (a prefix, or all; as JSON); rm deletes them; another org's never show", async () => {
    for (const p of ["ls/one", "ls/two", "ls/with space", "ls-other"]) expect((await run(["create", p, "--content-type", "text/plain"])).code).toBe(0);
    expect((await run(["append", "ls/one", "hello"])).code).toBe(0);
    expect((await run(["append", "ls/two", "--close"])).code).toBe(0);

    const plain = await run(["ls", "--prefix", "ls/"]);
    expect(plain.code).toBe(0);
    const lines = plain.text.trimEnd().split("\n");
    expect(lines.map((l) => l.split(/\s{2,}/)[0])).toEqual(["ls/one", "ls/two", "ls/with space"]);
    expect(lines[0]).toMatch(/^ls\/one\s+text\/plain\s+5 B$/);
    expect(lines[1]).toContain("closed");

    const listed = await run(["ls", "--prefix", "ls/", "--json"]);
    expect(listed.code).toBe(0);
    const streams = JSON.parse(listed.text) as { path: string; contentType: string; bytes: number; closed: boolean; nextOffset: string }[];
    expect(streams.map((s) => s.path)).toEqual(["ls/one", "ls/two", "ls/with space"]);
    expect(streams[0]).toMatchObject({ contentType: "text/plain", bytes: 5, closed: false, nextOffset: "0000000000000000_0000000000000005" });
    expect(streams[1]!.closed).toBe(true);
    // Without --prefix: everything.
    expect((JSON.parse((await run(["ls", "--json"])).text) as { path: string }[]).map((s) => s.path)).toEqual(expect.arrayContaining(["ls/one", "ls-other"]));

    // A path as listed is a path rm (and read) takes, spaces and all.
    const rm = await run(["rm", "ls/with space", "ls/one"]);
    expect(rm.code).toBe(0);
    expect(rm.stderr).toContain("deleted stream ls/with space");
    expect((JSON.parse((await run(["ls", "--prefix", "ls/", "--json"])).text) as { path: string }[]).map((s) => s.path)).toEqual(["ls/two"]);
    const gone = await run(["read", "ls/one"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain("no such stream ls/one");
    const again = await run(["rm", "ls/one", "ls/two"]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("no such stream ls/one");
    expect(again.stderr).toContain("deleted stream ls/two");

    const none = await run(["ls", "--prefix", "ls/"]);
    expect(none.code).toBe(0);
    expect(none.text).toBe("");
    expect(none.stderr).toContain("no streams under ls/");
    expect((await run(["ls", "--prefix", "ls/", "--json"])).text).toBe("[]\n");
    expect((await run(["rm"])).code).toBe(2);
    expect((await run(["ls", "ls/"])).stderr).toContain("--prefix ls/");

    // A key of another organization lists none of these.
    const owner = api(t.server, t.session);
    const org = await json<{ id: string }>(owner("POST", "/api/orgs", { slug: "cli-ls-b", name: "CLI ls B" }));
    const keyB = await apiKey(t.server, t.session, "cli-ls-b", org.id);
    const asB = await cli(["stream", "ls", "--json"], { ...env, WARREN_API_KEY: keyB }).done();
    expect(asB.code).toBe(0);
    expect(JSON.parse(asB.text)).toEqual([]);
    const rmAsB = await cli(["stream", "rm", "ls-other"], { ...env, WARREN_API_KEY: keyB }).done();
    expect(rmAsB.code).toBe(1);
    expect(rmAsB.stderr).toContain("no such stream ls-other");
    expect((await run(["read", "ls-other"])).code).toBe(0);
  });

  test("a missing stream and a bad credential: what went wrong, exit 1", async () => {
    for (const args of [["read", "cli/nope"], ["tail", "cli/nope"], ["append", "cli/nope", "x"]]) {
      const r = await run(args);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("no such stream cli/nope");
    }
    const badKey = "sk_live_" + "x".repeat(40);
    const denied = await cli(["stream", "read", "cli/bin"], { ...env, WARREN_API_KEY: badKey }).done();
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain("(HTTP 401)");
    expect(denied.stderr).not.toContain(badKey);
    const anonymous = spawnWarren(["stream", "create", "cli/anon", "--server", t.server.url], { env: { WARREN_HOME: tempDir(), WARREN_API_KEY: undefined } });
    expect(await anonymous.exited).toBe(1);
    expect(anonymous.stderr()).toContain("send an API key");
  });
});
