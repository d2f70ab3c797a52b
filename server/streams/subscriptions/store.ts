// Picks the subscription store for the database in use; both copies have one type (gen.ts).
import type { Db } from "../../db";
import { makeSubscriptionStore as sqliteStore } from "./subscriptions.store";
import { makeSubscriptionStore as pgStore } from "./subscriptions.store.pg";

export type { SubscriptionRow, SubscriptionStore } from "./subscriptions.store";

export const subscriptionStore = (db: Db) => (db.dialect === "pg" ? pgStore(db) : sqliteStore(db)) as ReturnType<typeof sqliteStore>;
