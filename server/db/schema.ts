// The database schema, written once. This file is the SQLite schema as it stands; gen.ts writes
// schema.pg.ts from it by swapping the kit import (the only line tagged @dialect), and
// typecheck.ts proves both give identical row types.
import { id, index, str, table, ts, uniqueIndex } from "./kit/sqlite"; // @dialect

export const users = table(
  "users",
  {
    id: id(),
    email: str("email").notNull(),
    name: str("name").notNull(),
    createdAt: ts("created_at").notNull(),
  },
  (t) => [uniqueIndex("users_email_key").on(t.email)],
);

export const organizations = table(
  "organizations",
  {
    id: id(),
    slug: str("slug").notNull(),
    name: str("name").notNull(),
    createdAt: ts("created_at").notNull(),
  },
  (t) => [uniqueIndex("organizations_slug_key").on(t.slug)],
);

export const members = table(
  "members",
  {
    orgId: str("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    userId: str("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** owner | admin | member */
    role: str("role").notNull(),
    createdAt: ts("created_at").notNull(),
  },
  (t) => [uniqueIndex("members_org_user_key").on(t.orgId, t.userId), index("members_user_idx").on(t.userId)],
);
