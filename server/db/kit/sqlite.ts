// The SQLite half of the column kit. kit/pg.ts exports the same names with the same JS-side
// types, so server/db/schema.ts is written once and stamped out for Postgres by gen.ts.
import { blob, index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const table = sqliteTable;
export { index, uniqueIndex };

export const id = (name = "id") => text(name).primaryKey();
export const str = (name: string) => text(name);
export const int = (name: string) => integer(name, { mode: "number" });
export const bool = (name: string) => integer(name, { mode: "boolean" });
/** Milliseconds since the epoch on disk; a Date in JS on both dialects. */
export const ts = (name: string) => integer(name, { mode: "timestamp_ms" });
/** Raw bytes (stream data): BLOB here, bytea on Postgres; a Buffer in JS on both. */
export const bytes = (name: string) => blob(name, { mode: "buffer" });
