// GET /healthz: 200 only when the database answers (load balancers and scripts rely on it).
import { Elysia } from "elysia";
import type { Db } from "./db";
import { HttpError } from "./http/errors";

const PING_TIMEOUT_MS = 2000;

export const health = (db: Db) =>
  new Elysia({ name: "health" }).get("/healthz", async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timeout")), PING_TIMEOUT_MS);
    });
    try {
      await Promise.race([db.ping(), timeout]);
    } catch {
      throw new HttpError(503, "database_unavailable", "the database did not answer");
    } finally {
      clearTimeout(timer);
    }
    return { status: "ok" };
  });
