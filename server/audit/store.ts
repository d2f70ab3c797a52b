// Picks the audit store for the database in use; both copies have one type.
import type { Db } from "../db";
import { makeAuditStore as sqliteStore } from "./audit.store";
import { makeAuditStore as pgStore } from "./audit.store.pg";

export type AuditStore = ReturnType<typeof sqliteStore>;
export type { AuditRow, AuditFilter, Position } from "./audit.store";

export const auditStore = (db: Db): AuditStore => (db.dialect === "pg" ? pgStore(db) : sqliteStore(db));
