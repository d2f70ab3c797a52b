// The official TypeScript client (@durable-streams/client, pinned) against Warren, the way people
// use it: in Bun, in Node, and in Chromium from another origin with a header of its own. Create,
// append, catch-up, long-poll, SSE across the server's periodic close, and the idempotent
// producer with epoch fencing.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DurableStream, IdempotentProducer, stream } from "@durable-streams/client";
import { HAVE_CHROMIUM, launch } from "./browser";
import { cleanup, DIALECT, ROOT, waitUntil } from "./harness";
import { streamServer, type StreamServer } from "./stream-helpers";

afterAll(cleanup);

describe(`the official Durable Streams client (${DIALECT})`, () => {
  let t: StreamServer;
  // One SSE response lasts a second here: a reader reconnects several times in a test.
  beforeAll(async () => {
    t = await streamServer({ args: ["--sse-connection", "1s"] });
  });
  afterAll(() => t.server.stop());
  const url = (path: string) => `${t.server.url}/v1/stream/${path}`;
  const headers = () => ({ Authorization: `Bearer ${t.key}` });

  test("create, append and a catch-up read of a JSON stream", async () => {
    const h = await DurableStream.create({ url: url("client/json"), headers: headers(), contentType: "application/json" });
    for (let n = 1; n <= 3; n++) await h.append(JSON.stringify({ n }));
    const res = await stream<{ n: number }>({ url: url("client/json"), headers: headers(), live: false });
    expect(await res.json()).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const head = await h.head();
    expect(head.exists && head.offset).toBeTruthy();
  });

  test("long-poll: a reader from the tail gets what is appended after it started", async () => {
    const h = await DurableStream.create({ url: url("client/poll"), headers: headers(), contentType: "text/plain" });
    await h.append("before ");
    const head = await h.head();
    const res = await h.stream({ offset: head.exists ? head.offset : undefined, live: "long-poll" });
    let got = "";
    const stop = res.subscribeText(async (chunk) => void (got += chunk.text));
    await Bun.sleep(200);
    await h.append("after");
    await waitUntil(() => got === "after", 10_000, "the long-poll reader to get the append");
    stop();
  });

  test("SSE across the server's periodic close: every item once, in order", async () => {
    const h = await DurableStream.create({ url: url("client/sse"), headers: headers(), contentType: "application/json" });
    const res = await h.stream<{ i: number }>({ live: "sse" });
    const seen: number[] = [];
    const stop = res.subscribeJson(async (batch) => void seen.push(...batch.items.map((x) => x.i)));
    // 3.5 s of appends: the server ends each SSE response after 1 s and the client resumes.
    const started = Date.now();
    let i = 0;
    while (Date.now() - started < 3_500) {
      await h.append(JSON.stringify({ i: i++ }));
      await Bun.sleep(50);
    }
    await waitUntil(() => seen.length >= i, 10_000, "the SSE reader to catch up");
    stop();
    expect(seen).toEqual(Array.from({ length: i }, (_, n) => n));
  }, 30_000);

  test("the idempotent producer: exactly once, and a newer epoch fences the old one", async () => {
    const h = await DurableStream.create({ url: url("client/producer"), headers: headers(), contentType: "application/json" });
    const errors: Error[] = [];
    const old = new IdempotentProducer(h, "writer-1", { epoch: 0, lingerMs: 1, onError: (e) => errors.push(e) });
    for (let n = 0; n < 200; n++) old.append(JSON.stringify({ from: "old", n }));
    await old.flush();
    const fresh = new IdempotentProducer(h, "writer-1", { epoch: 1, lingerMs: 1, onError: (e) => errors.push(e) });
    fresh.append(JSON.stringify({ from: "new", n: 0 }));
    await fresh.flush();
    // The zombie tries again: fenced (403, stale epoch), and nothing of it lands.
    old.append(JSON.stringify({ from: "old", n: 200 }));
    await old.flush().catch((e) => errors.push(e as Error));
    expect(errors.some((e) => e.name === "StaleEpochError" || /epoch/i.test(e.message))).toBe(true);
    const items = await (await stream<{ from: string; n: number }>({ url: url("client/producer"), headers: headers(), live: false })).json();
    expect(items.filter((x) => x.from === "old").map((x) => x.n)).toEqual(Array.from({ length: 200 }, (_, n) => n));
    expect(items.filter((x) => x.from === "new")).toEqual([{ from: "new", n: 0 }]);
    await fresh.close();
  });

  test("in Node too: the same client creates, appends and reads", async () => {
    const script = `
      const { DurableStream, stream } = await import(${JSON.stringify(join(ROOT, "node_modules/@durable-streams/client/dist/index.js"))});
      const headers = { Authorization: "Bearer " + process.env.KEY };
      const h = await DurableStream.create({ url: process.env.URL, headers, contentType: "text/plain" });
      await h.append("from node");
      const res = await stream({ url: process.env.URL, headers, live: false });
      console.log(await res.text());`;
    const p = Bun.spawn(["node", "--input-type=module", "-e", script], { env: { ...process.env, KEY: t.key, URL: url("client/node") }, stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    expect(err).toBe("");
    expect(code).toBe(0);
    expect(out.trim()).toBe("from node");
  });
});

describe.if(HAVE_CHROMIUM)(`the official client in Chromium, from another origin (${DIALECT})`, () => {
  let t: StreamServer;
  // The page's own origin: it serves the client's ESM build and a page that uses it.
  const site = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) =>
      new URL(req.url).pathname === "/client.js"
        ? new Response(Bun.file(join(ROOT, "node_modules/@durable-streams/client/dist/index.js")), { headers: { "content-type": "text/javascript" } })
        : new Response("<!doctype html><title>page</title>", { headers: { "content-type": "text/html" } }),
  });
  beforeAll(async () => {
    t = await streamServer();
  });
  afterAll(async () => {
    site.stop(true);
    await t.server.stop();
  });

  test("create, append, catch-up and a live SSE item, with an X-Tenant-Id header of the page's own", async () => {
    const browser = await launch();
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${site.port}/`);
      const result = await page.evaluate(
        async ({ base, key }) => {
          const { DurableStream, stream } = (await import(`${location.origin}/client.js`)) as typeof import("@durable-streams/client");
          const headers = { Authorization: `Bearer ${key}`, "X-Tenant-Id": "tenant-7" };
          const url = `${base}/v1/stream/browser/chat`;
          const h = await DurableStream.create({ url, headers, contentType: "application/json" });
          await h.append(JSON.stringify({ text: "hello" }));
          const caughtUp = await (await stream({ url, headers, live: false })).json();
          const live = await h.stream({ live: "sse" });
          const next = new Promise((resolve) => {
            const stop = live.subscribeJson(async (batch) => {
              if (batch.items.some((x) => (x as { text: string }).text === "live")) {
                stop();
                resolve("live arrived");
              }
            });
          });
          await h.append(JSON.stringify({ text: "live" }));
          return { caughtUp, live: await Promise.race([next, new Promise((r) => setTimeout(() => r("timed out"), 10_000))]) };
        },
        { base: t.server.url, key: t.key },
      );
      expect(result).toEqual({ caughtUp: [{ text: "hello" }], live: "live arrived" });
    } finally {
      await browser.close();
    }
  }, 60_000);
});
