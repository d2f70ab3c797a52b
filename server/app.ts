// The HTTP app, composed top to bottom: cross-cutting concerns first, then each module's routes.
import { Elysia } from "elysia";
import type { Db } from "./db";
import type { Logger } from "./log";
import type { ServeConfig } from "./config";
import { accessLog } from "./http/access-log";
import { bodyLimit } from "./http/body-limit";
import { errors } from "./http/errors";
import { firstSegmentsFactory, methodsAtFactory } from "./http/routes";
import { health } from "./health";
import { about } from "./about";
import { openapiRoute } from "./openapi";
import { apiKeyRoutes, authRoutes, oidcRoutes, orgRoutes, type Auth } from "./auth";
import { web } from "./web";
import { terminalRoutes } from "./terminals";
import { hostRoutes, portRoutes, relayConnect, type Directory, type Hub } from "./relay";
import { STREAM_PREFIX, streamRoutes, type StreamsModule } from "./streams";
import { appOrigins, launchRoute, type Apps } from "./apps";
import { MAX_MESSAGE } from "../relay/codec";
import { metricsRoute } from "./metrics-routes";
import { eventRoutes, type Events } from "./events";
import { auditRoutes } from "./audit";

export interface AppContext {
  db: Db;
  log: Logger;
  config: ServeConfig;
  secret: Buffer;
  auth: Auth;
  hosts: Directory;
  hub: Hub;
  streams: StreamsModule;
  apps: Apps;
  events: Events;
}

export function createApp(ctx: AppContext) {
  // One websocket setting for the whole server (Bun has no per-route one): the largest message
  // is what the relay reassembles, so an app's WebSocket gets what a direct one would.
  const app = new Elysia({ websocket: { maxPayloadLength: MAX_MESSAGE, perMessageDeflate: false } })
    .use(accessLog(ctx.log, () => firstSegments()))
    .use(errors({ log: ctx.log, methodsAt: (path) => methodsAt(path) }))
    // Requests to an app's origin are the app's: they never reach the routes below.
    .use(appOrigins(ctx.apps))
    // Before the body parser: proxied bodies stream to the host untouched, whatever their type.
    .use(portRoutes(ctx.auth, ctx.hosts, ctx.config.pathApps))
    .use(bodyLimit((path) => path.startsWith(STREAM_PREFIX)))
    .use(health(ctx.db))
    .use(about(ctx.auth, ctx.db, ctx.apps))
    .use(openapiRoute(() => ctx.apps.mainUrl))
    .use(oidcRoutes(ctx.auth))
    .use(authRoutes(ctx.auth))
    .use(orgRoutes(ctx.auth))
    .use(auditRoutes(ctx.auth))
    .use(apiKeyRoutes(ctx.auth))
    .use(relayConnect(ctx.auth, ctx.hub, ctx.hosts))
    .use(hostRoutes(ctx.auth, ctx.hosts, ctx.apps))
    .use(terminalRoutes(ctx.auth, ctx.hosts))
    .use(launchRoute(ctx.apps))
    .use(eventRoutes(ctx.auth, ctx.events))
    .use(ctx.config.metricsPublic ? metricsRoute(ctx.auth) : new Elysia())
    .use(streamRoutes({ auth: ctx.auth, ...ctx.streams, publicUrl: ctx.config.publicUrl }))
    .use(web());
  const methodsAt = methodsAtFactory(() => app.routes);
  const firstSegments = firstSegmentsFactory(() => app.routes);
  return app;
}

export type App = ReturnType<typeof createApp>;
