// Compile-time proof that the two stamped-out schemas agree: if a kit helper drifts (say a
// timestamp becomes a string on one side), `tsc` fails here instead of a query failing at run time.
import type * as sqlite from "./schema";
import type * as pg from "./schema.pg";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
type AllTrue<T> = false extends T ? false : true;
type Tables = keyof typeof sqlite & keyof typeof pg;

type SameSelect = { [K in Tables]: Equal<(typeof sqlite)[K]["$inferSelect"], (typeof pg)[K]["$inferSelect"]> };
type SameInsert = { [K in Tables]: Equal<(typeof sqlite)[K]["$inferInsert"], (typeof pg)[K]["$inferInsert"]> };
type SameTables = Equal<keyof typeof sqlite, keyof typeof pg>;

export type SchemasAgree = Assert<AllTrue<SameSelect[Tables] | SameInsert[Tables] | SameTables>>;
