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
