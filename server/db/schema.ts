// The database schema, written once. This file is the SQLite schema as it stands; gen.ts writes
// schema.pg.ts from it by swapping the kit import (the only line tagged @dialect), and
// typecheck.ts proves both give identical row types.
import { bool, id, index, int, str, table, ts, uniqueIndex } from "./kit/sqlite"; // @dialect

export const users = table(
  "users",
  {
    id: id(),
    /** Null for the owner created on first start, until they set one. */
    email: str("email"),
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

/** Browser and CLI sign-ins. Only the SHA-256 of the token is stored; revoking deletes the row. */
export const sessions = table(
  "sessions",
  {
    id: id(),
    tokenHash: str("token_hash").notNull(),
    userId: str("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** "browser" | "cli" */
    client: str("client").notNull(),
    deviceName: str("device_name").notNull(),
    activeOrgId: str("active_org_id"),
    createdAt: ts("created_at").notNull(),
    lastUsedAt: ts("last_used_at").notNull(),
    expiresAt: ts("expires_at").notNull(),
  },
  (t) => [uniqueIndex("sessions_token_hash_key").on(t.tokenHash), index("sessions_user_idx").on(t.userId)],
);

/**
 * One-time pairing tokens (hashed). Without an invite they sign in `userId` on a new device; with
 * one they make (or find) the invited user and add them to `orgId` with `role` first.
 */
export const pairingTokens = table(
  "pairing_tokens",
  {
    tokenHash: id("token_hash"),
    userId: str("user_id").references(() => users.id, { onDelete: "cascade" }),
    inviteEmail: str("invite_email"),
    inviteName: str("invite_name"),
    orgId: str("org_id").references(() => organizations.id, { onDelete: "cascade" }),
    role: str("role"),
    usesLeft: int("uses_left").notNull(),
    createdBy: str("created_by"),
    createdAt: ts("created_at").notNull(),
    expiresAt: ts("expires_at").notNull(),
  },
  (t) => [index("pairing_tokens_expires_idx").on(t.expiresAt)],
);

/** Single-use WebSocket tickets for browsers, bound to the session that asked for them. */
export const wsTickets = table("ws_tickets", {
  tokenHash: id("token_hash"),
  sessionId: str("session_id")
    .notNull()
    .references(() => sessions.id, { onDelete: "cascade" }),
  expiresAt: ts("expires_at").notNull(),
});

/** Headless credentials, each bound for life to one organization. Only the SHA-256 is stored. */
export const apiKeys = table(
  "api_keys",
  {
    id: id(),
    keyHash: str("key_hash").notNull(),
    /** The first characters after sk_live_, so people can tell their keys apart. */
    prefix: str("prefix").notNull(),
    name: str("name").notNull(),
    userId: str("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    orgId: str("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    enabled: bool("enabled").notNull(),
    createdAt: ts("created_at").notNull(),
    lastUsedAt: ts("last_used_at"),
    expiresAt: ts("expires_at"),
  },
  (t) => [uniqueIndex("api_keys_key_hash_key").on(t.keyHash), index("api_keys_user_idx").on(t.userId)],
);

/** Ed25519 keys that sign host JWTs; the private half is encrypted with the server secret. */
export const signingKeys = table("signing_keys", {
  kid: id("kid"),
  publicJwk: str("public_jwk").notNull(),
  privateKeyEnc: str("private_key_enc").notNull(),
  createdAt: ts("created_at").notNull(),
  /** Set when a newer key replaces it: it still verifies for one token lifetime after this. */
  retiredAt: ts("retired_at"),
});

// ---- Relay (issue #8): the host directory ----------------------------------------------------

/**
 * Remote hosts (`warren host start`), one row per (organization, name). `epoch` grows with every
 * connection: only the connection holding the current epoch may mark the host offline, so a
 * stale socket never unregisters a newer one. `replica` names the server process holding the
 * connection; `lastSeen` is refreshed by heartbeats, so a row left online by a crashed replica
 * goes stale on its own.
 */
export const hosts = table(
  "hosts",
  {
    id: id(),
    orgId: str("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    name: str("name").notNull(),
    version: str("version").notNull(),
    platform: str("platform").notNull(),
    online: bool("online").notNull(),
    replica: str("replica"),
    epoch: int("epoch").notNull(),
    createdBy: str("created_by").notNull(),
    createdAt: ts("created_at").notNull(),
    lastSeen: ts("last_seen").notNull(),
  },
  (t) => [uniqueIndex("hosts_org_name_key").on(t.orgId, t.name)],
);
