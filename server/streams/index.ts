// server/streams: the Durable Streams protocol (SPEC §3), org-scoped and durable.
//   openStreams(db, log, config, secret)  the module: the streams service (group-commit writer,
//                                         reader, live notifier, TTL sweeper) and subscriptions
//   streamRoutes(...)                     /v1/stream/* over HTTP, including the __ds control routes
//   STREAM_PREFIX                         where the routes live
//   listQuery                             GET /api/streams' query (the org's streams, paged)
import type { Db } from "../db";
import type { Logger } from "../log";
import type { ServeConfig } from "../config";
import { Streams } from "./service";
import { openStorage } from "./storage";
import { Subscriptions } from "./subscriptions/manager";
import { subscriptionStore } from "./subscriptions/store";
import { streamReaders } from "../metrics";

export { Streams } from "./service";
export { Subscriptions } from "./subscriptions/manager";
export { STREAM_PREFIX, streamRoutes } from "./routes";
export { listQuery } from "./list";

export interface StreamsModule {
  streams: Streams;
  subscriptions: Subscriptions;
  /** Live readers answer now (shutdown has begun). */
  closing(): void;
  /** After the HTTP drain: let the writer finish, then stop timers and listeners. */
  stop(): Promise<void>;
}

export async function openStreams(db: Db, log: Logger, config: ServeConfig, secret: Buffer): Promise<StreamsModule> {
  const streams = new Streams(await openStorage(db), log, config.longPollTimeoutMs, config.sseConnectionMs);
  const subscriptions = new Subscriptions(subscriptionStore(db), streams, secret, config.webhookAllow, log);
  await streams.start();
  subscriptions.start();
  const unmeter = streamReaders(() => streams.live.waiting);
  return {
    streams,
    subscriptions,
    closing: () => streams.closing(),
    async stop() {
      unmeter();
      subscriptions.stop();
      await streams.stop();
    },
  };
}
