// Starting and stopping the server: data dir, secret, database, HTTP — and a graceful stop that
// lets in-flight requests finish (≤ 10 s) before the database closes.
import { createApp } from "./app";
import { openDatabase } from "./db";
import { prepareDataDir, serverSecret, StartupError } from "./datadir";
import { holdDataDir } from "./lease";
import { metricsListener } from "./metrics-routes";
import { listen, type Listener } from "./listener";
import { createLogger, redact } from "./log";
import type { ServeConfig } from "./config";
import { bootstrapOwner, createAuth, Oidc } from "./auth";
import { bunTerminal, DEFAULTS, TerminalService } from "../pty";
import { createRelay, type LocalHost } from "./relay";
import { openStreams } from "./streams";
import { Apps } from "./apps";
import { Events } from "./events";
import { Audit, auditStore, startRetention } from "./audit";
import { logWriteErrors, terminalClients, terminalMeter, terminalSessions } from "./metrics";

export const DRAIN_MS = 10_000;

/** How often expired sessions, pairing tokens and tickets are deleted. */
const SWEEP_MS = 10 * 60_000;

export interface RunningServer {
  /** http://host:port as bound (the real port when --port 0). */
  url: string;
  /** On the first start of an empty database: the owner's pairing link (print it, never log it). */
  pairingUrl?: string;
  pairingExpiresAt?: Date;
  /** Serves new connections with the TLS files read again (SIGHUP); a bad pair keeps the old one. */
  reloadTls(): void;
  /** Where GET /metrics is served on a listener of its own (--metrics-addr). */
  metricsUrl?: string;
  /** Every route the app registered (method, pattern): for route inventories in tests and docs. */
  routes: { method: string; path: string }[];
  stop(): Promise<void>;
}

export async function startServer(config: ServeConfig): Promise<RunningServer> {
  if (process.platform !== "win32") process.umask(0o077);
  prepareDataDir(config.dataDir);
  const lease = holdDataDir(config.dataDir);
  const secret = serverSecret(config.dataDir);
  const log = createLogger({ file: config.logFile, level: config.logLevel, format: config.logFormat });
  // A failure outside any request (a timer, a stream pump) is one JSON line in the log like any
  // other error, not a raw stack on stderr; the server carries on, since exiting would end every
  // terminal and connection it holds.
  const unhandled = (kind: string) => (e: unknown) => log.error(kind, { error: redact(String((e as Error)?.stack ?? e)) });
  const onRejection = unhandled("unhandled rejection");
  const onException = unhandled("uncaught exception");
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
  const db = await openDatabase(config);
  // Local until it listens (start(), below): a LISTEN connection opened before a start that then
  // fails (another installation's secret, say) would keep the process from exiting.
  const events = new Events(log);
  const auth = await createAuth(db, config, secret, events);
  auth.log = log;
  auth.audit = auth.resolver.audit = new Audit(auditStore(db), log);
  const stopRetention = startRetention(auth.audit.store, config.auditRetentionMs, log);
  // Discovery runs in the background: a provider that is down delays nothing and stops nothing.
  if (config.oidc) (auth.oidc = new Oidc(config.oidc, log)).start();
  const firstPairing = await bootstrapOwner(auth.store, config.bootstrapToken);
  let localOrg: string | null = null;
  const local: LocalHost = {
    service: new TerminalService(bunTerminal, { ...DEFAULTS, idleMs: config.terminalIdleMs, stallMs: config.terminalStallMs, meter: terminalMeter, onChange: (org) => events.publish({ topic: "terminals", org }) }),
    enabled: config.localHost,
    orgId: async () => (localOrg ??= await auth.store.firstOrgId()),
  };
  const { hub, directory } = createRelay(db, log, local, config.relayHeartbeatMs, events, auth.audit);
  const sessions = () => [...local.service.all()];
  const unmeter = [
    terminalSessions(() => [[{ state: "running" }, sessions().filter((t) => !t.exit).length], [{ state: "exited" }, sessions().filter((t) => t.exit).length]]),
    terminalClients(() => sessions().reduce((n, t) => n + t.attached, 0)),
    logWriteErrors(() => log.writeErrors()),
  ];
  const streams = await openStreams(db, log, config, secret);
  const apps = new Apps(auth, directory, log, config);
  const app = createApp({ db, log, config, secret, auth, hosts: directory, hub, streams, apps, events });
  let metrics: ReturnType<typeof metricsListener> | null = null;
  let listener: Listener;
  try {
    await events.start(db);
    listener = listen(app, config);
    if (config.metricsAddr) {
      const { host, port } = config.metricsAddr;
      try {
        metrics = metricsListener(host, port);
      } catch (e) {
        throw new StartupError(`cannot serve metrics on ${host}:${port} (--metrics-addr): ${(e as Error).message}`);
      }
    }
  } catch (e) {
    await app.server?.stop(true);
    // Nothing may keep the process alive after a failed start (the Postgres LISTEN connection would).
    stopRetention();
    await streams.stop();
    await events.stop();
    await auth.audit.stop();
    await db.close();
    lease.release();
    throw e;
  }
  const url = listener.url;
  const port = listener.server.port!;
  hub.replica = config.replicaUrl ?? url;
  apps.listening(url, port);
  lease.listening(config.publicUrl ?? url);
  log.info("started", { url, policy: config.policy, database: db.dialect, location: db.location, apps: apps.origins?.pattern ?? null });
  if (config.policy === "remote" && config.insecure) {
    log.warn("serving plain HTTP on a non-loopback address (--insecure): credentials cross the network unencrypted");
  }
  if (config.pathApps) log.warn("--path-apps: apps are also served to browsers on the dashboard's origin (sandboxed)");
  log.flush();
  const sweep = setInterval(() => {
    auth.store.sweep(new Date()).catch((e) => log.error("sweep failed", { error: String(e) }));
    auth.resolver.limiter.prune();
  }, SWEEP_MS);
  sweep.unref();

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(sweep);
      stopRetention();
      auth.oidc?.stop();
      for (const f of unmeter) f();
      // WebSockets would hold the drain open: attached clients are told to come back (1001),
      // and hosts to reconnect (GOAWAY) — to another replica, or to this one once restarted.
      local.service.shutdown();
      hub.shutdown();
      // Long-polls and SSE readers answer now instead of holding the drain open.
      streams.closing();
      events.closing();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const drained = await Promise.race([
        listener.stop(false).then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), DRAIN_MS))),
      ]);
      clearTimeout(timer);
      if (!drained) {
        log.warn("drain timed out; closing remaining connections", { afterMs: DRAIN_MS });
        await listener.stop(true);
      }
      await metrics?.stop(true);
      // Elysia logs a request from a deferred hook; let those run before the last line.
      await new Promise((r) => setImmediate(r));
      await streams.stop();
      await events.stop();
      // After the drain: the last requests' and sockets' events are in the batch it writes.
      await auth.audit.stop();
      await db.close();
      lease.release();
      log.info("stopped", { drained });
      log.close();
      process.off("unhandledRejection", onRejection);
      process.off("uncaughtException", onException);
    })());
  const base = config.publicUrl ?? url;
  const reloadTls = () => {
    try {
      listener.reload();
      log.info("tls certificate reloaded", { cert: config.tls?.cert });
    } catch (e) {
      log.error("tls reload failed; still serving the previous certificate", { error: (e as Error).message });
    }
    log.flush();
  };
  return {
    url,
    stop,
    reloadTls,
    routes: app.routes.map((r) => ({ method: r.method, path: r.path })),
    ...(metrics ? { metricsUrl: `http://${metrics.hostname!.includes(":") ? `[${metrics.hostname}]` : metrics.hostname}:${metrics.port}/metrics` } : {}),
    ...(firstPairing ? { pairingUrl: `${base}/pair#token=${firstPairing.token}`, pairingExpiresAt: firstPairing.expiresAt } : {}),
  };
}
