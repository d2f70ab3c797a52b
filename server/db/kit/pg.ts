// The Postgres half of the column kit: same names and JS-side types as kit/sqlite.ts.
import { bigint, boolean, customType, index, pgTable, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

export const table = pgTable;
export { index, uniqueIndex };

export const id = (name = "id") => text(name).primaryKey();
export const str = (name: string) => text(name);
export const int = (name: string) => bigint(name, { mode: "number" });
export const bool = (name: string) => boolean(name);
export const ts = (name: string) => timestamp(name, { mode: "date", withTimezone: true, precision: 3 });
export const bytes = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => "bytea" });
