// GET /healthz: 200 only when the database answers (load balancers and scripts rely on it).
import { Elysia } from "elysia";
import type { Db } from "./db";
import { HttpError } from "./http/errors";

export const health = (db: Db) =>
  new Elysia({ name: "health" }).get("/healthz", async () => {
    try {
      await db.ping();
    } catch {
      throw new HttpError(503, "database_unavailable", "the database did not answer", { "retry-after": "2" });
    }
    return { status: "ok" };
  });
