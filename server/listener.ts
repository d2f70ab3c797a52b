// The main listener. Plain HTTP, or TLS served by Bun itself from PEM files (--tls-cert,
// --tls-key) that can take a renewed certificate on SIGHUP without dropping a connection: Bun
// cannot swap the certificate of a running server, so the new one starts a second listener on
// the same port (SO_REUSEPORT), which takes every new connection, and the old one stops
// accepting and finishes what it holds — requests in flight, WebSockets, SSE readers.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Server } from "bun";
import type { ServeConfig } from "./config";
import { StartupError } from "./datadir";

/** Hard ceiling for any request body; routes apply their own, smaller limits. */
const MAX_REQUEST_BODY = 64 * 1024 * 1024;

interface Listening {
  server: Server<unknown> | null;
  listen(options: Record<string, unknown>): unknown;
}

export interface Listener {
  /** The listener that takes new connections. */
  readonly server: Server<unknown>;
  readonly url: string;
  /** Reads the certificate files again and serves new connections with them (TLS only). */
  reload(): void;
  /** Stops every listener: in-flight requests finish unless `force`. */
  stop(force: boolean): Promise<void>;
}

/** The PEM pair, checked: both parse, and the key is the certificate's. */
export function readTls(files: { cert: string; key: string }): { cert: string; key: string } {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(files.cert, "utf8");
    key = readFileSync(files.key, "utf8");
  } catch (e) {
    throw new StartupError(`cannot read the TLS files: ${(e as Error).message}`);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    throw new StartupError(`${files.cert} is not a PEM certificate (--tls-cert)`);
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error("mismatch");
  } catch (e) {
    throw new StartupError((e as Error).message === "mismatch" ? `${files.key} is not the key of ${files.cert}` : `${files.key} is not a PEM private key (--tls-key)`);
  }
  return { cert, key };
}

/** The port to listen on: taken for real for a moment, so that a port in use fails even when the listeners share it. */
function claim(hostname: string, port: number): number {
  const probe = Bun.listen({ hostname, port, socket: { data() {} } });
  const got = probe.port;
  probe.stop(true);
  return got;
}

export function listen(app: Listening, config: ServeConfig): Listener {
  // development off: Elysia turns Bun's development mode on unless NODE_ENV=production.
  const base = { hostname: config.host, maxRequestBodySize: MAX_REQUEST_BODY, development: false };
  const retired: Server<unknown>[] = [];
  let options: Record<string, unknown>;
  if (!config.tls) {
    // reusePort off: a second server on a taken port must fail, not silently share it.
    options = { ...base, port: config.port, reusePort: false };
  } else {
    options = { ...base, port: claim(config.host, config.port), reusePort: true, tls: readTls(config.tls) };
  }
  app.listen(options);
  const first = app.server!;
  const host = first.hostname!.includes(":") ? `[${first.hostname}]` : first.hostname;
  return {
    get server() {
      return app.server!;
    },
    url: `${config.tls ? "https" : "http"}://${host}:${first.port}`,
    reload() {
      if (!config.tls) return;
      const tls = readTls(config.tls);
      const old = app.server!;
      app.listen({ ...options, port: old.port, tls });
      retired.push(old);
      void old.stop(false);
    },
    async stop(force) {
      await Promise.all([app.server!, ...retired].map((s) => s.stop(force)));
    },
  };
}
