// warren keys rotate — on the server machine: a new JWT signing key; the old one keeps verifying
// for one token lifetime (15 minutes), then stops.
import { authStore, Jwts } from "../../server/auth";
import { openDatabase } from "../../server/db";
import { resolveServeConfig } from "../../server/config";
import { prepareDataDir, serverSecret } from "../../server/datadir";
import type { Command } from "../command";
import { serve } from "./serve";

export const rotate: Command = {
  spec: {
    name: "keys rotate",
    summary: "Start signing host JWTs with a new key (run it on the server).",
    usage: "warren keys rotate [--data-dir dir] [--database-url url]",
    flags: { "data-dir": serve.spec.flags["data-dir"]!, "database-url": serve.spec.flags["database-url"]! },
    details: "Needs the server's data dir: the new private key is sealed with the secret kept there.\nRunning servers pick the new key up within seconds.",
  },
  async run(flags) {
    const config = resolveServeConfig({ dataDir: flags["data-dir"] as string | undefined, databaseUrl: flags["database-url"] as string | undefined });
    prepareDataDir(config.dataDir);
    const db = await openDatabase(config);
    try {
      const kid = await new Jwts(authStore(db), serverSecret(config.dataDir), { sign: "", accept: [] }).rotate();
      console.log(`new signing key ${kid}; tokens signed with the previous key verify for 15 more minutes`);
    } finally {
      await db.close();
    }
    return 0;
  },
};
