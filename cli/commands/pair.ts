// warren pair — on the server machine, with direct access to its database: a fresh owner link.
import { authStore, mintPairing, pairingUrl, PAIRING_TTL_SECONDS } from "../../server/auth";
import { openDatabase } from "../../server/db";
import { parseDuration, resolveServeConfig } from "../../server/config";
import { prepareDataDir } from "../../server/datadir";
import { liveServer } from "../../server/lease";
import type { Command } from "../command";
import { serve } from "./serve";
import { ClientError, DEFAULT_SERVER, normalizeServer } from "../client";
import { UsageError } from "../flags";

export const pair: Command = {
  spec: {
    name: "pair",
    summary: "Print a one-time link that signs in the owner on a new device (run it on the server).",
    usage: "warren pair [--data-dir dir | --database-url url] [--server url] [--ttl 5m] [--uses 1] [--json]",
    flags: {
      "data-dir": serve.spec.flags["data-dir"]!,
      "database-url": serve.spec.flags["database-url"]!,
      server: { type: "string", value: "url", env: "WARREN_PUBLIC_URL", help: `The address the link should point at (default: that of the server running on this data dir, else ${DEFAULT_SERVER})` },
      ttl: { type: "string", value: "duration", default: `${PAIRING_TTL_SECONDS / 60}m`, help: "How long the link stays valid" },
      uses: { type: "string", value: "n", default: "1", help: "How many times it can be used" },
      json: { type: "boolean", help: "Print {url, expiresAt, uses} as JSON" },
    },
    details:
      "It talks to the database directly, so it works while the server runs and before anyone has signed in.\n" +
      "It is the owner's break-glass too: it works when the identity provider is down or required (--oidc-required).",
  },
  async run(flags) {
    const config = resolveServeConfig({ dataDir: flags["data-dir"] as string | undefined, databaseUrl: flags["database-url"] as string | undefined });
    const ttl = parseDuration(flags.ttl as string, "--ttl", 30_000, 7 * 86_400_000);
    const uses = Number(flags.uses);
    if (!Number.isInteger(uses) || uses < 1 || uses > 100) throw new UsageError("--uses must be a whole number from 1 to 100", "pair");
    if (!config.databaseUrl) prepareDataDir(config.dataDir);
    // The link must point at the server that owns this data dir, wherever it listens (--port 0
    // included): it recorded its URL when it started.
    const running = flags.server === undefined ? liveServer(config.dataDir) : null;
    const base = normalizeServer((flags.server as string | undefined) ?? running?.url ?? DEFAULT_SERVER);
    if (flags.server === undefined && !running?.url) console.error(`no server is running on ${config.dataDir}: the link points at ${base} (--server to choose)`);
    const db = await openDatabase(config);
    try {
      const store = authStore(db);
      const owner = await store.firstOwner();
      if (!owner) throw new ClientError("this database has no owner yet: start `warren serve` once; it prints the first link");
      const minted = await mintPairing(store, { userId: owner, invite: null, uses, createdBy: owner, ttlSeconds: ttl / 1000 });
      if (flags.json) console.log(JSON.stringify({ url: pairingUrl(base, minted.token), expiresAt: minted.expiresAt.toISOString(), uses }));
      else {
        console.log(pairingUrl(base, minted.token));
        console.error(`valid until ${minted.expiresAt.toISOString()}, ${uses === 1 ? "once" : `${uses} times`}`);
      }
    } finally {
      await db.close();
    }
    return 0;
  },
};
