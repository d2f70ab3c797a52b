// The database schema, written once. This file is the SQLite schema as it stands; gen.ts writes
// schema.pg.ts from it by swapping the kit import (the only line tagged @dialect), and
// typecheck.ts proves both give identical row types.
import { bool, bytes, id, index, int, str, table, ts, uniqueIndex } from "./kit/sqlite"; // @dialect

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
    /**
     * "oidc" when the identity provider's group mapping granted it (re-applied, and removed, at
     * each sign-in); null when an invitation or an admin did (the mapping leaves it alone).
     */
    source: str("source"),
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
    /**
     * The OpenID Connect issuer this session was signed in by; null for a pairing. Signing out of
     * it also signs out at the provider (RP-initiated logout) while that is still the provider.
     */
    oidcIssuer: str("oidc_issuer"),
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

/**
 * Who a user is at an OpenID Connect provider: (issuer, subject) is the match at every sign-in
 * after the first — never the email, which a provider may let people change.
 */
export const oidcIdentities = table(
  "oidc_identities",
  {
    id: id(),
    issuer: str("issuer").notNull(),
    subject: str("subject").notNull(),
    userId: str("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    /** The verified email it was first linked by (for people reading the table). */
    email: str("email"),
    createdAt: ts("created_at").notNull(),
    lastSignInAt: ts("last_sign_in_at").notNull(),
  },
  (t) => [uniqueIndex("oidc_identities_issuer_subject_key").on(t.issuer, t.subject), index("oidc_identities_user_idx").on(t.userId)],
);

/**
 * OIDC sign-ins under way: one row per redirect to the provider, deleted when its callback comes
 * back (one use) or swept once expired. Keyed by the hash of `state`; `browserHash` is the hash
 * of a cookie set on the browser that started it, so a callback URL replayed in another browser
 * (login CSRF) finds nothing. The PKCE verifier and nonce are worthless without the code, which
 * the provider sends only to that browser.
 */
export const oidcStates = table(
  "oidc_states",
  {
    stateHash: id("state_hash"),
    browserHash: str("browser_hash").notNull(),
    nonce: str("nonce").notNull(),
    codeVerifier: str("code_verifier").notNull(),
    redirectUri: str("redirect_uri").notNull(),
    /** Where to go once signed in: a path on this origin. */
    next: str("next").notNull(),
    /** "browser" (sets the session cookie) | "cli" (shows a one-time code for `warren auth login`) */
    client: str("client").notNull(),
    /**
     * Set when a signed-in user is linking their account to the provider rather than signing in:
     * only a callback carrying this very session's cookie may attach the provider's subject. No
     * foreign key: a row whose session was revoked meanwhile matches no cookie, and is swept.
     */
    linkSessionId: str("link_session_id"),
    expiresAt: ts("expires_at").notNull(),
  },
  (t) => [index("oidc_states_expires_idx").on(t.expiresAt)],
);

/**
 * A device authorization (RFC 8628) that `warren auth login` started: the provider's device code
 * stays here, with the client secret's holder, and the CLI polls with a handle of ours (only its
 * hash is kept), so the CLI never talks to the provider's token endpoint.
 */
export const oidcDeviceGrants = table(
  "oidc_device_grants",
  {
    handleHash: id("handle_hash"),
    deviceCode: str("device_code").notNull(),
    /** Seconds between polls of the provider; raised by each slow_down it answers. */
    interval: int("interval").notNull(),
    /** The provider is not asked again before this, however often the CLI polls. */
    nextPollAt: ts("next_poll_at").notNull(),
    deviceName: str("device_name").notNull(),
    expiresAt: ts("expires_at").notNull(),
  },
  (t) => [index("oidc_device_grants_expires_idx").on(t.expiresAt)],
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

/**
 * Durable streams (SPEC §3), one row per stream, keyed by (org, path): the same path in two orgs
 * is two streams. `tail` is the offset after the last byte; the append path locks this row, so
 * appends to one stream are totally ordered across replicas.
 */
export const streams = table(
  "streams",
  {
    id: id(),
    orgId: str("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    path: str("path").notNull(),
    contentType: str("content_type").notNull(),
    ttlSeconds: int("ttl_seconds"),
    expiresAt: ts("expires_at"),
    /** Reads and writes push a TTL stream's expiry out from here (written at most once a second). */
    accessedAt: ts("accessed_at").notNull(),
    createdAt: ts("created_at").notNull(),
    tail: int("tail").notNull(),
    closed: bool("closed").notNull(),
    /** The producer write that closed the stream, so that its retry is a duplicate, not a 409. */
    closedBy: str("closed_by"),
    /** The last Stream-Seq accepted (compared as a string, as the protocol says). */
    lastSeq: str("last_seq"),
    /** A fork reads its source's bytes up to forkOffset, then its own. */
    forkOf: str("fork_of"),
    forkOffset: int("fork_offset"),
    /** As requested, so that repeating the PUT is recognised as the same fork. */
    forkSubOffset: int("fork_sub_offset"),
    /** Live forks reading through this stream; a delete while > 0 only marks it deleted. */
    forks: int("forks").notNull(),
    deleted: bool("deleted").notNull(),
  },
  (t) => [uniqueIndex("streams_org_path_key").on(t.orgId, t.path), index("streams_fork_of_idx").on(t.forkOf)],
);

/** Each append is one chunk [start, end) of its stream's offset space. */
export const streamChunks = table(
  "stream_chunks",
  {
    streamId: str("stream_id")
      .notNull()
      .references(() => streams.id, { onDelete: "cascade" }),
    start: int("start_pos").notNull(),
    end: int("end_pos").notNull(),
    data: bytes("data").notNull(),
  },
  (t) => [uniqueIndex("stream_chunks_pos_key").on(t.streamId, t.end)],
);

/** Idempotent producers (Producer-Id/-Epoch/-Seq): the last accepted write of each. */
export const streamProducers = table(
  "stream_producers",
  {
    streamId: str("stream_id")
      .notNull()
      .references(() => streams.id, { onDelete: "cascade" }),
    producerId: str("producer_id").notNull(),
    epoch: int("epoch").notNull(),
    seq: int("seq").notNull(),
    updatedAt: ts("updated_at").notNull(),
  },
  (t) => [uniqueIndex("stream_producers_key").on(t.streamId, t.producerId)],
);

/**
 * Durable Streams subscriptions (webhook or pull-wake): which streams an org wants to be woken
 * for, and the one outstanding wake of each. State changes are conditional updates on
 * (generation, wake_id), so replicas never both advance one subscription.
 */
export const streamSubscriptions = table(
  "stream_subscriptions",
  {
    id: id(),
    orgId: str("org_id")
      .notNull()
      .references(() => organizations.id, { onDelete: "cascade" }),
    /** The protocol's subscription id, chosen by the client. */
    name: str("name").notNull(),
    /** webhook | pull-wake */
    type: str("type").notNull(),
    pattern: str("pattern"),
    webhookUrl: str("webhook_url"),
    wakeStream: str("wake_stream"),
    leaseTtlMs: int("lease_ttl_ms").notNull(),
    description: str("description"),
    /** The definition as canonical JSON, so that a repeated PUT is recognised. */
    config: str("config").notNull(),
    /** The origin clients used, for the callback and JWKS URLs sent later. */
    baseUrl: str("base_url").notNull(),
    createdAt: ts("created_at").notNull(),
    generation: int("generation").notNull(),
    wakeId: str("wake_id"),
    /** JSON {path: tail offset} at the wake; a done acknowledges up to these. */
    snapshot: str("snapshot"),
    holder: str("holder"),
    leaseUntil: ts("lease_until"),
    attempts: int("attempts").notNull(),
    /** When the webhook is (re)sent next; pushed ahead by whichever replica is sending it. */
    deliverAt: ts("deliver_at"),
  },
  (t) => [uniqueIndex("stream_subscriptions_org_name_key").on(t.orgId, t.name)],
);

export const streamSubscriptionLinks = table(
  "stream_subscription_links",
  {
    subscriptionId: str("subscription_id")
      .notNull()
      .references(() => streamSubscriptions.id, { onDelete: "cascade" }),
    path: str("path").notNull(),
    explicit: bool("explicit").notNull(),
    glob: bool("glob").notNull(),
    ackedOffset: str("acked_offset").notNull(),
  },
  (t) => [uniqueIndex("stream_subscription_links_key").on(t.subscriptionId, t.path)],
);

// The relay (SPEC §4): the host directory.

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
    /** The ports it exposes (`--expose`), comma-separated, as it said when it last connected. */
    ports: str("ports").notNull().default(""),
    /**
     * The agent's own random id (kept in its ~/.warren/host/), so that a reconnect is told apart
     * from another machine asking for the same name, and a renamed host keeps its row.
     */
    instance: str("instance"),
    /** When the current (or last) connection registered. */
    connectedAt: ts("connected_at"),
  },
  (t) => [uniqueIndex("hosts_org_name_key").on(t.orgId, t.name)],
);

/** Facts about this installation that every replica shares (the JWT issuer's id). */
export const settings = table("settings", {
  key: id("key"),
  value: str("value").notNull(),
});

/**
 * The audit log (server/audit): one row per security-relevant event, appended in batches and
 * deleted only by the retention sweep. No foreign keys: the record of a user, key, host or
 * organization outlives it. Actor, target and client are plain columns so that they filter.
 */
export const auditEvents = table(
  "audit_events",
  {
    id: id(),
    at: ts("at").notNull(),
    orgId: str("org_id"),
    /** user | apikey | host | anonymous */
    actorKind: str("actor_kind").notNull(),
    actorId: str("actor_id"),
    /** The person behind the actor (a key's or host's user). */
    actorUser: str("actor_user"),
    action: str("action").notNull(),
    targetType: str("target_type"),
    targetId: str("target_id"),
    targetLabel: str("target_label"),
    /** success | failure */
    outcome: str("outcome").notNull(),
    reason: str("reason"),
    /** JSON: small facts of the action (a new role, an old name). */
    detail: str("detail"),
    clientIp: str("client_ip"),
    userAgent: str("user_agent"),
    requestId: str("request_id"),
  },
  (t) => [
    index("audit_events_org_at_idx").on(t.orgId, t.at),
    index("audit_events_at_idx").on(t.at),
    index("audit_events_target_label_idx").on(t.targetLabel),
  ],
);
