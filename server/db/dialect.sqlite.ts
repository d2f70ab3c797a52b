// What dialect-neutral store code imports (tagged `// @dialect`); gen.ts rewrites that import to
// dialect.pg.ts in the Postgres copy of each store.
export * from "./schema";
export type { SqliteDb as Db, SqliteTx as Tx } from "./sqlite";
