// server/streams: the Durable Streams protocol (SPEC §3), org-scoped and durable.
//   openStreams(db, log, longPollMs)  the service: group-commit writer, reader, live notifier, TTL sweeper
//   streamRoutes(...)                 /v1/stream/* over HTTP
//   STREAM_PREFIX                     where the routes live
import type { Db } from "../db";
import type { Logger } from "../log";
import { Streams } from "./service";
import { openStorage } from "./storage";

export { Streams } from "./service";
export { STREAM_PREFIX, streamRoutes } from "./routes";

export async function openStreams(db: Db, log: Logger, longPollMs: number): Promise<Streams> {
  const streams = new Streams(await openStorage(db), log, longPollMs);
  await streams.start();
  return streams;
}
