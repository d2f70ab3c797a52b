// warren backup | restore — on the server machine: a consistent copy of the embedded database
// while the server runs, and putting one back into an empty data dir (server/backup.ts).
import { resolve } from "node:path";
import { resolveServeConfig } from "../../server/config";
import { backupSqlite, restoreSqlite } from "../../server/backup";
import { UsageError } from "../flags";
import type { Command } from "../command";
import { serve } from "./serve";

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

const POSTGRES = `this server's data is in Postgres: back it up with Postgres' own tools, e.g.
  pg_dump --format=custom --file warren.dump "$WARREN_DATABASE_URL"
and restore it into an empty database with
  pg_restore --no-owner --dbname "$NEW_DATABASE_URL" warren.dump
(keep the data dir's secret file with the dump: it unseals the JWT signing keys)`;

export const backup: Command = {
  spec: {
    name: "backup",
    summary: "Copy the embedded database to a file while the server runs (run it on the server).",
    usage: "warren backup <file> [--data-dir dir]",
    flags: { "data-dir": serve.spec.flags["data-dir"]!, "database-url": serve.spec.flags["database-url"]! },
    details: `The copy is one consistent moment of the database (every write acknowledged before the backup
began), checked before it is kept; writes go on meanwhile. It never overwrites a file. The
server secret is not in it: keep <data dir>/secret alongside, or a restore makes a new JWT
signing key (tokens issued before stop verifying; sessions and API keys keep working).
On Postgres, use pg_dump (the command says how).`,
  },
  async run(flags, positionals) {
    const config = resolveServeConfig({ dataDir: flags["data-dir"] as string | undefined, databaseUrl: flags["database-url"] as string | undefined });
    if (config.databaseUrl) {
      console.error(`warren backup: ${POSTGRES}`);
      return 1;
    }
    if (positionals.length !== 1) throw new UsageError("name the file to write: warren backup <file>", "backup");
    const target = resolve(positionals[0]!);
    console.error(`backing up ${config.dataDir} to ${target}…`);
    const started = Date.now();
    const r = backupSqlite(config.dataDir, target);
    console.log(`${target}: ${mb(r.bytes)}, ${r.users} users, ${r.streams} streams, checked, in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    console.error(`note: the secret is not in the backup; keep ${resolve(config.dataDir, "secret")} with it (restore --secret)`);
    return 0;
  },
};

export const restore: Command = {
  spec: {
    name: "restore",
    summary: "Put a backup in place as the database of an empty data dir.",
    usage: "warren restore <file> [--data-dir dir] [--secret file]",
    flags: {
      "data-dir": serve.spec.flags["data-dir"]!,
      secret: { type: "string", value: "file", help: "The secret file kept with the backup (the old data dir's secret)" },
    },
    details: `The data dir must hold no database and no running server. Then start warren serve on it.
Without --secret (and no secret already in the data dir) the JWT signing keys are dropped: the
server makes a new one, tokens issued before stop verifying, hosts fetch fresh ones.`,
  },
  async run(flags, positionals) {
    if (positionals.length !== 1) throw new UsageError("name the backup to restore: warren restore <file>", "restore");
    const config = resolveServeConfig({ dataDir: flags["data-dir"] as string | undefined });
    const secret = flags.secret as string | undefined;
    const r = restoreSqlite(resolve(positionals[0]!), config.dataDir, secret ? resolve(secret) : undefined);
    console.log(`restored ${mb(r.bytes)} (${r.users} users, ${r.streams} streams) into ${config.dataDir}; start it with: warren serve --data-dir ${config.dataDir}`);
    if (r.keysDropped) console.error("note: no secret came with the backup: the JWT signing keys were dropped and a new one is made at start");
    return 0;
  },
};
