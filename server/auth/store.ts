// Picks the auth store for the database in use; both copies have one type (gen.ts, typecheck.ts).
import type { Db } from "../db";
import { makeAuthStore as sqliteStore } from "./auth.store";
import { makeAuthStore as pgStore } from "./auth.store.pg";

export type AuthStore = ReturnType<typeof sqliteStore>;
export type { Role, NewPairing, NewSession, OidcSignIn, OidcAdmission, OidcLinkResult } from "./auth.store";

export const authStore = (db: Db): AuthStore => (db.dialect === "pg" ? pgStore(db) : sqliteStore(db));
