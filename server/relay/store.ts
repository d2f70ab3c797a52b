// Picks the host directory store for the database in use; both copies have one type.
import type { Db } from "../db";
import { makeHostStore as sqliteStore } from "./hosts.store";
import { makeHostStore as pgStore } from "./hosts.store.pg";

export type HostStore = ReturnType<typeof sqliteStore>;
export type { HostRow } from "./hosts.store";

export const hostStore = (db: Db): HostStore => (db.dialect === "pg" ? pgStore(db) : sqliteStore(db));
