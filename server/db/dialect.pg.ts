// The Postgres side of dialect.sqlite.ts.
export * from "./schema.pg";
export type { PgDb as Db, PgTx as Tx } from "./pg";
