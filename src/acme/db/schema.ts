import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * OAuth clients. Each client is its own account (contacts.account_id is the client id); the secret
 * is kept only as a keyed hash.
 */
export const clients = sqliteTable("clients", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  secretHash: text("secret_hash").notNull(),
  scopes: text("scopes").notNull(),
  createdAt: text("created_at").notNull(),
});

export const contacts = sqliteTable(
  "contacts",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    firstName: text("acme_first_name"),
    lastName: text("acme_last_name"),
    email: text("acme_email").notNull(),
    // Lower-cased email, so uniqueness ignores case as mail servers do.
    emailKey: text("email_key").notNull(),
    phone: text("acme_phone"),
    company: text("acme_company"),
    title: text("acme_title"),
    notes: text("acme_notes"),
    version: integer("acme_version").notNull(),
    createdAt: text("acme_created_at").notNull(),
    updatedAt: text("acme_updated_at").notNull(),
    deletedAt: text("acme_deleted_at"),
    /**
     * The contact's custom property values, a JSON object with its keys sorted (so equal values are
     * equal text): `{}` when it has none. Validated against the account's `custom_properties`.
     */
    custom: text("acme_custom").notNull().default("{}"),
    /** The outbox event of the last change, so the event row is written only with its change. */
    lastEventId: text("last_event_id"),
  },
  (t) => [
    index("contacts_account_id_idx").on(t.accountId, t.id),
    index("contacts_account_updated_idx").on(t.accountId, t.updatedAt),
    uniqueIndex("contacts_live_email_uq").on(t.accountId, t.emailKey).where(sql`acme_deleted_at IS NULL`),
  ],
);

export const CUSTOM_PROPERTY_TYPES = ["string", "number", "boolean", "date", "enumeration"] as const;
export type CustomPropertyType = (typeof CUSTOM_PROPERTY_TYPES)[number];

/**
 * An account's custom contact properties. Never deleted: archiving (`archivedAt`) stops new
 * writes while the values contacts hold stay readable, and keeps the name taken.
 */
export const customProperties = sqliteTable(
  "custom_properties",
  {
    accountId: text("account_id").notNull(),
    name: text("name").notNull(),
    label: text("label").notNull(),
    type: text("type", { enum: CUSTOM_PROPERTY_TYPES }).notNull(),
    /** JSON array of the allowed values of an `enumeration`; null for the other types. */
    options: text("options"),
    createdAt: text("created_at").notNull(),
    archivedAt: text("archived_at"),
  },
  (t) => [primaryKey({ columns: [t.accountId, t.name] })],
);

export type CustomPropertyRow = typeof customProperties.$inferSelect;

/** Single-row settings such as the fault profile, stored as JSON under a key. */
export const settings = sqliteTable("settings", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
  updatedAt: text("updated_at").notNull(),
});

export type ContactRow = typeof contacts.$inferSelect;
export type ClientRow = typeof clients.$inferSelect;

export const WEBHOOK_EVENT_TYPES = ["contact.created", "contact.updated", "contact.deleted"] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Where an account wants its events; the signing secret is stored encrypted. */
export const webhookSubscriptions = sqliteTable(
  "webhook_subscriptions",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    url: text("url").notNull(),
    /** JSON array of event types. */
    events: text("events").notNull(),
    description: text("description"),
    secretEnc: text("secret_enc").notNull(),
    enabled: integer("enabled", { mode: "boolean" }).notNull(),
    disabledReason: text("disabled_reason"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [index("webhook_subscriptions_account_idx").on(t.accountId, t.id)],
);

/**
 * The transactional outbox: one row per contact change, written in the same D1 batch as the
 * change and kept until its delivery finished (`finishedAt`). Whoever hands the event to the
 * deliveries queue holds it until `leaseUntil`; an unfinished event whose lease ran out is handed
 * again by the cron sweep (see `webhooks/outbox.ts`).
 */
export const webhookEvents = sqliteTable(
  "webhook_events",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    type: text("type", { enum: WEBHOOK_EVENT_TYPES }).notNull(),
    contactId: text("contact_id").notNull(),
    /** The exact JSON body every subscriber receives. */
    payload: text("payload").notNull(),
    createdAt: text("created_at").notNull(),
    /** When the event was last handed to the deliveries queue; null: not yet. */
    enqueuedAt: text("enqueued_at"),
    /**
     * ISO instant after which the sweep hands the event (again) unless it finished. The default
     * only fills rows older than the column: due at once, so the sweep settles them.
     */
    leaseUntil: text("lease_until").notNull().default("1970-01-01T00:00:00.000Z"),
    /** When the last of its deliveries ended; from then on the event is never handed again. */
    finishedAt: text("finished_at"),
  },
  (t) => [index("webhook_events_due_idx").on(t.leaseUntil).where(sql`finished_at IS NULL`)],
);

export const DELIVERY_STATUSES = ["pending", "retrying", "succeeded", "failed", "dead", "skipped"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * A delivery in one of these has ended and is never attempted again by itself: `succeeded` (2xx),
 * `failed` (410: the subscription was disabled), `dead` (retries exhausted, via the dead-letter
 * queue), `skipped` (the subscription was disabled or deleted before its turn). An operator's
 * manual retry may still send it again.
 */
export const ENDED_DELIVERY_STATUSES = [
  "succeeded",
  "failed",
  "dead",
  "skipped",
] as const satisfies readonly DeliveryStatus[];

/** One event to one subscription: its state and attempt count, as the delivery log shows them. */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: text("id").primaryKey(),
    eventId: text("event_id").notNull(),
    subscriptionId: text("subscription_id").notNull(),
    accountId: text("account_id").notNull(),
    status: text("status", { enum: DELIVERY_STATUSES }).notNull(),
    attempts: integer("attempts").notNull(),
    lastStatusCode: integer("last_status_code"),
    lastError: text("last_error"),
    nextAttemptAt: text("next_attempt_at"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("webhook_deliveries_event_subscription_uq").on(t.eventId, t.subscriptionId),
    index("webhook_deliveries_subscription_idx").on(t.subscriptionId, t.id),
  ],
);

export const webhookAttempts = sqliteTable(
  "webhook_attempts",
  {
    id: text("id").primaryKey(),
    deliveryId: text("delivery_id").notNull(),
    attempt: integer("attempt").notNull(),
    statusCode: integer("status_code"),
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [index("webhook_attempts_delivery_idx").on(t.deliveryId, t.attempt)],
);

export type WebhookSubscriptionRow = typeof webhookSubscriptions.$inferSelect;
export type WebhookEventRow = typeof webhookEvents.$inferSelect;
export type WebhookDeliveryRow = typeof webhookDeliveries.$inferSelect;

/**
 * Third-party apps: confidential OAuth clients of the authorization-code grant, acting for the
 * accounts whose users approve them. Their ids share the namespace of `clients` (the token endpoint
 * finds either by id), and their secrets are hashed the same way.
 */
export const oauthApps = sqliteTable("oauth_apps", {
  clientId: text("client_id").primaryKey(),
  name: text("name").notNull(),
  secretHash: text("secret_hash").notNull(),
  /** JSON array of absolute URIs; an authorization request must name one of them exactly. */
  redirectUris: text("redirect_uris").notNull(),
  createdAt: text("created_at").notNull(),
  updatedAt: text("updated_at").notNull(),
});

/** People who sign in to an account (a `clients` row) on the consent page. */
export const accountUsers = sqliteTable(
  "account_users",
  {
    id: text("id").primaryKey(),
    accountId: text("account_id").notNull(),
    email: text("email").notNull(),
    /** Lower-cased email: unique across Acme, so one sign-in names one user. */
    emailKey: text("email_key").notNull(),
    /** `pbkdf2-sha256$<iterations>$<salt b64url>$<hash b64url>` (auth/password.ts). */
    passwordHash: text("password_hash").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [uniqueIndex("account_users_email_key_uq").on(t.emailKey)],
);

/**
 * Authorization codes, by the SHA-256 of the code (the code itself is never stored). Single use:
 * `usedAt` is set by the one exchange that wins (`UPDATE … WHERE used_at IS NULL`), which also
 * names the grant it creates, so a second presentation can revoke that grant.
 */
export const oauthCodes = sqliteTable("oauth_codes", {
  codeHash: text("code_hash").primaryKey(),
  appClientId: text("app_client_id").notNull(),
  accountId: text("account_id").notNull(),
  userId: text("user_id").notNull(),
  redirectUri: text("redirect_uri").notNull(),
  codeChallenge: text("code_challenge").notNull(),
  scope: text("scope").notNull(),
  /** Epoch ms after which the code is refused. */
  expiresAt: integer("expires_at").notNull(),
  createdAt: text("created_at").notNull(),
  usedAt: text("used_at"),
  grantId: text("grant_id"),
});

/** What a user approved: an app acting for an account with scopes, until revoked. */
export const oauthGrants = sqliteTable(
  "oauth_grants",
  {
    id: text("id").primaryKey(),
    appClientId: text("app_client_id").notNull(),
    accountId: text("account_id").notNull(),
    userId: text("user_id").notNull(),
    scope: text("scope").notNull(),
    createdAt: text("created_at").notNull(),
    revokedAt: text("revoked_at"),
    /** Why: `refresh_token_reuse`, `code_reuse`, `revocation_request`, `admin`. */
    revokedReason: text("revoked_reason"),
  },
  (t) => [index("oauth_grants_app_account_idx").on(t.appClientId, t.accountId)],
);

/**
 * Refresh tokens (opaque `rt_…`), by public id, stored as the SHA-256 of the token. Each is
 * presented once: the refresh that uses it sets `usedAt` and `replacedBy` (its successor's id)
 * atomically; presenting it again revokes the grant.
 */
export const oauthRefreshTokens = sqliteTable(
  "oauth_refresh_tokens",
  {
    id: text("id").primaryKey(),
    tokenHash: text("token_hash").notNull(),
    grantId: text("grant_id").notNull(),
    issuedAt: text("issued_at").notNull(),
    usedAt: text("used_at"),
    replacedBy: text("replaced_by"),
  },
  (t) => [
    uniqueIndex("oauth_refresh_tokens_hash_uq").on(t.tokenHash),
    index("oauth_refresh_tokens_grant_idx").on(t.grantId),
  ],
);

export const TOKEN_LOG_OUTCOMES = ["issued", "reused", "invalid", "revoked"] as const;
export type TokenLogOutcome = (typeof TOKEN_LOG_OUTCOMES)[number];

/** Every token-endpoint request an app made (ids are time-ordered, so newest first is id order). */
export const oauthTokenLog = sqliteTable(
  "oauth_token_log",
  {
    id: text("id").primaryKey(),
    appClientId: text("app_client_id").notNull(),
    at: text("at").notNull(),
    grantType: text("grant_type").notNull(),
    grantId: text("grant_id"),
    refreshTokenId: text("refresh_token_id"),
    outcome: text("outcome", { enum: TOKEN_LOG_OUTCOMES }).notNull(),
  },
  (t) => [index("oauth_token_log_app_idx").on(t.appClientId, t.id)],
);

export type OAuthAppRow = typeof oauthApps.$inferSelect;
export type AccountUserRow = typeof accountUsers.$inferSelect;
export type OAuthCodeRow = typeof oauthCodes.$inferSelect;
export type OAuthGrantRow = typeof oauthGrants.$inferSelect;
export type OAuthRefreshTokenRow = typeof oauthRefreshTokens.$inferSelect;
