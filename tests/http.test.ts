// The shared HTTP layers (error shape, body limits, access log) on a real server: the out-of-process
// part uses the warren binary; routes that only later modules have (JSON bodies, a crashing handler)
// are exercised by mounting the same real plugins on a real Bun server here.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Elysia } from "elysia";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { accessLog } from "../server/http/access-log";
import { bodyLimit, JSON_BODY_LIMIT } from "../server/http/body-limit";
import { errors, HttpError } from "../server/http/errors";
import { valid } from "../server/http/json";
import { methodsAtFactory } from "../server/http/routes";
import { createLogger, parseLines } from "./log-helpers";
import { cleanup, DIALECT, startServer, tempDir, waitUntil, type TestServer } from "./harness";

afterAll(cleanup);

const expectErrorShape = async (r: Response, status: number, code: string) => {
  expect(r.status).toBe(status);
  expect(r.headers.get("content-type")).toContain("application/json");
  const body = (await r.json()) as { error: { code: string; message: string } };
  expect(Object.keys(body)).toEqual(["error"]);
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  return body;
};

describe(`error shape on the warren server (${DIALECT})`, () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(() => s.stop());

  test("unknown route → 404 not_found", async () => {
    await expectErrorShape(await fetch(`${s.url}/no/such/route`), 404, "not_found");
    await expectErrorShape(await fetch(`${s.url}/api/nothing`, { method: "POST", body: "{}" }), 404, "not_found");
  });

  test("wrong method → 405 with Allow", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH"]) {
      const r = await fetch(`${s.url}/healthz`, { method, body: method === "DELETE" ? undefined : "{}" });
      await expectErrorShape(r, 405, "method_not_allowed");
      expect(r.headers.get("allow")).toBe("GET, HEAD");
    }
  });

  test("a declared oversize body → 413 before it is read", async () => {
    const r = await fetch(`${s.url}/api/orgs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "x".repeat(JSON_BODY_LIMIT + 1),
    });
    await expectErrorShape(r, 413, "payload_too_large");
  });

  test("every error response carries a request id, also in its log line", async () => {
    const r = await fetch(`${s.url}/no/such/route`);
    const id = r.headers.get("x-request-id");
    expect(id).toMatch(/^[A-Za-z0-9_-]{8,}-[a-z0-9]+$/);
    await waitUntil(() => s.logs().some((l) => l.requestId === id && l.status === 404), 5000, "the 404 log line");
    const other = (await fetch(`${s.url}/no/such/route`)).headers.get("x-request-id");
    expect(other).not.toBe(id);
  });
});

describe("error shape for bodies and crashes (the shared plugins, in process)", () => {
  const logFile = join(tempDir(), "log.jsonl");
  const log = createLogger({ file: logFile });
  let base = "";
  let server: ReturnType<typeof Bun.serve> | undefined;
  beforeAll(() => {
    const app = new Elysia()
      .use(accessLog(log, () => new Set()))
      .use(errors({ log, methodsAt: (p) => methodsAt(p) }))
      .use(bodyLimit(() => false))
      .post("/echo", ({ body }) => valid(z.object({ name: z.string().min(1) }), body))
      .get("/crash", () => {
        throw new Error("db password=hunter2 leaked in a stack");
      })
      .get("/teapot", () => {
        throw new HttpError(418, "teapot", "short and stout", { "retry-after": "3" });
      });
    const methodsAt = methodsAtFactory(() => app.routes);
    app.listen({ port: 0, hostname: "127.0.0.1", reusePort: false });
    server = app.server!;
    base = `http://127.0.0.1:${server.port}`;
  });
  afterAll(() => server?.stop(true));

  const post = (body: BodyInit, headers: Record<string, string> = { "content-type": "application/json" }) =>
    fetch(`${base}/echo`, { method: "POST", headers, body });

  test("valid JSON passes through", async () => {
    const r = await post(JSON.stringify({ name: "a" }));
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ name: "a" });
  });

  test("malformed JSON → 400 invalid_json", async () => {
    for (const body of ["{bad", "[1,", '{"name": "a"', "nul", "{'name': 1}"])
      await expectErrorShape(await post(body), 400, "invalid_json");
  });

  test("JSON of the wrong shape → 400 invalid_request naming the field", async () => {
    const body = await expectErrorShape(await post(JSON.stringify({ name: 3 })), 400, "invalid_request");
    expect(body.error.message).toContain("name");
    await expectErrorShape(await post(JSON.stringify({})), 400, "invalid_request");
    const empty = await expectErrorShape(await post(""), 400, "invalid_request");
    expect(empty.error.message).toContain("request body");
    await expectErrorShape(await post("name=a", { "content-type": "text/plain" }), 415, "unsupported_media_type");
  });

  test("an oversize chunked body (no Content-Length) → 413 payload_too_large", async () => {
    const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        if (sent > JSON_BODY_LIMIT * 2) return c.close();
        sent += chunk.length;
        c.enqueue(chunk);
      },
    });
    const r = await fetch(`${base}/echo`, { method: "POST", headers: { "content-type": "application/json" }, body: stream, duplex: "half" } as RequestInit);
    await expectErrorShape(r, 413, "payload_too_large");
  });

  test("a thrown HttpError keeps its status, code and headers", async () => {
    const r = await fetch(`${base}/teapot`);
    await expectErrorShape(r, 418, "teapot");
    expect(r.headers.get("retry-after")).toBe("3");
  });

  test("a crash → 500 with the request id, no stack, no internals; logged in full", async () => {
    const r = await fetch(`${base}/crash`);
    const body = (await expectErrorShape(r, 500, "internal")) as { error: { message: string; requestId?: string } };
    const id = r.headers.get("x-request-id")!;
    expect(body.error.requestId).toBe(id);
    expect(body.error.message).toContain(id);
    const text = JSON.stringify(body);
    expect(text).not.toContain("hunter2");
    expect(text).not.toContain("at ");
    expect(text).not.toContain(".ts");
    let lines: Record<string, unknown>[] = [];
    await waitUntil(() => {
      log.flush();
      lines = parseLines(readFileSync(logFile, "utf8"));
      return lines.some((l) => l.msg === "request" && l.requestId === id);
    });
    const logged = lines.find((l) => l.msg === "unhandled error" && l.requestId === id);
    expect(String(logged?.error)).toContain("leaked in a stack");
    expect(lines.find((l) => l.msg === "request" && l.requestId === id)).toMatchObject({ status: 500, route: "/crash" });
  });
});
