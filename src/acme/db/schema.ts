import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

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
    /** The outbox event of the last change, so the event row is written only with its change. */
    lastEventId: text("last_event_id"),
  },
  (t) => [
    index("contacts_account_id_idx").on(t.accountId, t.id),
    index("contacts_account_updated_idx").on(t.accountId, t.updatedAt),
    uniqueIndex("contacts_live_email_uq").on(t.accountId, t.emailKey).where(sql`acme_deleted_at IS NULL`),
  ],
);

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
 * change. `enqueuedAt` stays null until the event is on the queue; a cron sweep sends the rest.
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
    enqueuedAt: text("enqueued_at"),
  },
  (t) => [index("webhook_events_pending_idx").on(t.enqueuedAt, t.createdAt)],
);

export const DELIVERY_STATUSES = ["pending", "retrying", "succeeded", "failed", "dead", "skipped"] as const;

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
