// /api/openapi.json: a valid OpenAPI 3.1 document (checked by a real validator), with an entry
// for every route the server registers, built from the very schemas the routes validate with.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import SwaggerParser from "@apidevtools/swagger-parser";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { resolveServeConfig, startServer as startInProcess } from "../server";
import { openapiPath } from "../server/openapi";
import { newTerminal } from "../server/terminals";
import { cleanup, DIALECT, startServer, type TestServer } from "./harness";

afterAll(cleanup);

type Doc = { openapi: string; paths: Record<string, Record<string, { security: unknown[]; requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, unknown> }>> };

describe(`the OpenAPI document (${DIALECT})`, () => {
  let s: TestServer;
  let doc: Doc;
  beforeAll(async () => {
    s = await startServer({ args: ["--metrics-public"] });
    const r = await fetch(`${s.url}/api/openapi.json`);
    expect(r.status).toBe(200);
    doc = (await r.json()) as Doc;
  });
  afterAll(() => s.stop());

  test("is valid OpenAPI 3.1", async () => {
    expect(doc.openapi).toBe("3.1.0");
    await SwaggerParser.validate(structuredClone(doc) as never);
  });

  test("describes every route the server registers, with its method", async () => {
    const dir = mkdtempSync(join(tmpdir(), "warren-routes-"));
    const running = await startInProcess(resolveServeConfig({ port: "0", dataDir: dir, noBrowser: true, logFile: join(dir, "log"), metricsPublic: true }));
    const routes = running.routes;
    await running.stop();
    rmSync(dir, { recursive: true, force: true });
    const missing = routes
      .map((r) => ({ method: r.method === "WS" || r.method === "ALL" ? "get" : r.method.toLowerCase(), path: openapiPath(r.path) }))
      .filter((r) => !doc.paths[r.path]?.[r.method])
      .map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(missing).toEqual([]);
    expect(routes.length).toBeGreaterThan(40);
  });

  test("says who may call each route and how it fails, in the one error shape", () => {
    const op = (path: string, method: string) => doc.paths[path]![method]!;
    expect(op("/healthz", "get").security).toEqual([]);
    expect(op("/api/api-keys", "post").security).toEqual([{ bearer: [] }, { cookie: [] }]); // a person's session only
    expect(op("/api/hosts", "get").security).toContainEqual({ apiKey: [] });
    expect(op("/api/orgs", "get").responses["401"]).toMatchObject({ content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });
    // The request body is the route's own zod schema.
    const body = op("/api/hosts/{hostId}/terminals", "post").requestBody!.content["application/json"]!.schema;
    const { $schema: _, ...expected } = z.toJSONSchema(newTerminal, { io: "input", unrepresentable: "any" }) as Record<string, unknown>;
    expect(body).toEqual(expected);
  });
});
