import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { CUSTOM_FIELD_TYPES } from "../contacts/mapping.ts";

// The tables of one connection's `ConnectionData` Durable Object (SQLite storage). Every row here
// belongs to that one connection, so no table carries a connection id: the object is the tenant.
// Migrations: `migrations/connection-data` (drizzle-kit, driver durable-sqlite), applied when the
// object starts.

export const CHANGE_SOURCES = ["webhook", "reconciliation", "backfill"] as const;
export type ChangeSource = (typeof CHANGE_SOURCES)[number];

/** The connection's view of Acme's contacts: the highest version seen, in the API's shape. */
export const contactMirror = sqliteTable("contact_mirror", {
  contactId: text("contact_id").primaryKey(),
  version: integer("version").notNull(),
  /** The contact in the API's shape (JSON). */
  data: text("data").notNull(),
  deletedAt: text("deleted_at"),
  syncedAt: text("synced_at").notNull(),
});

/**
 * The change feed: one row per contact version, numbered without gaps. The unique (contact,
 * version) key makes a webhook and a reconciliation of the same change one event. Pruned after
 * FEED_RETENTION_SECONDS (by `recorded_at`), oldest first.
 */
export const changeEvents = sqliteTable(
  "change_events",
  {
    seq: integer("seq").primaryKey(),
    eventId: text("event_id").notNull(),
    type: text("type").notNull(),
    contactId: text("contact_id").notNull(),
    version: integer("version").notNull(),
    occurredAt: text("occurred_at").notNull(),
    contact: text("contact").notNull(),
    changes: text("changes").notNull(),
    source: text("source", { enum: CHANGE_SOURCES }).notNull(),
    recordedAt: text("recorded_at").notNull(),
  },
  (t) => [
    uniqueIndex("change_events_version_uq").on(t.contactId, t.version),
    index("change_events_recorded_idx").on(t.recordedAt),
  ],
);

/** Webhook ids already applied, so a redelivered webhook changes nothing; pruned after the sender's retry horizon. */
export const processedWebhooks = sqliteTable(
  "processed_webhooks",
  {
    webhookId: text("webhook_id").primaryKey(),
    /** Epoch ms. */
    processedAt: integer("processed_at").notNull(),
  },
  (t) => [index("processed_webhooks_at_idx").on(t.processedAt)],
);

/**
 * Contacts whose copy the integration may hold in KV, and until when (epoch ms: the copy's KV
 * expiry). A change to a contact not listed here needs no cache invalidation (no KV write).
 */
export const cachedContacts = sqliteTable(
  "cached_contacts",
  {
    contactId: text("contact_id").primaryKey(),
    until: integer("until").notNull(),
  },
  (t) => [index("cached_contacts_until_idx").on(t.until)],
);

/** `Idempotency-Key` records; pruned once expired. */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    key: text("key").primaryKey(),
    requestHash: text("request_hash").notNull(),
    state: text("state", { enum: ["in_flight", "done"] }).notNull(),
    responseStatus: integer("response_status"),
    responseHeaders: text("response_headers"),
    responseBody: text("response_body"),
    lockedUntil: integer("locked_until").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("idempotency_expiry_idx").on(t.expiresAt)],
);

export const JOB_KINDS = ["import", "backfill", "reconcile"] as const;
export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * One long task of the connection (import, backfill, reconcile), run by a Workflow instance with
 * the same id. `checkpoint` is where the next step starts (an import's next chunk number, a
 * sync's Acme page cursor); a step moves it together with the counters, only from the value it
 * started at, so a repeated step counts nothing twice. Finished jobs are pruned after
 * JOB_RETENTION_SECONDS (by `finished_at`), with their errors.
 */
export const jobs = sqliteTable(
  "jobs",
  {
    id: text("id").primaryKey(),
    kind: text("kind", { enum: JOB_KINDS }).notNull(),
    status: text("status", { enum: JOB_STATUSES }).notNull(),
    /** Rows to process; null while unknown (a sync learns its size as it pages). */
    total: integer("total"),
    processed: integer("processed").notNull().default(0),
    succeeded: integer("succeeded").notNull().default(0),
    failed: integer("failed").notNull().default(0),
    /** Import: chunks in `job_chunks`. */
    chunks: integer("chunks").notNull().default(0),
    checkpoint: text("checkpoint"),
    /** Reconcile: Acme's `updated_since` for the whole run. */
    updatedSince: text("updated_since"),
    cancelRequested: integer("cancel_requested", { mode: "boolean" }).notNull().default(false),
    /** Why the job failed, for the operator (never an internal detail). */
    failure: text("failure"),
    createdAt: text("created_at").notNull(),
    startedAt: text("started_at"),
    finishedAt: text("finished_at"),
    /** When progress is next expected (epoch ms): the restart sweep's lease (mirrored in D1's `active_jobs`). */
    leaseUntil: integer("lease_until").notNull(),
    /**
     * The Workflow instance that runs the job now: null for the first, which has the job's id;
     * a long job goes on in a fresh instance before it reaches the per-instance step limit.
     */
    instanceId: text("instance_id"),
  },
  (t) => [index("jobs_status_idx").on(t.status), index("jobs_finished_idx").on(t.finishedAt)],
);

/** An import's rows between the request and the steps, one chunk (one step's work) per row, as JSON; deleted when the job ends. */
export const jobChunks = sqliteTable(
  "job_chunks",
  {
    jobId: text("job_id").notNull(),
    chunk: integer("chunk").notNull(),
    /** Number of the chunk's first row in the import (1-based, header not counted). */
    firstRow: integer("first_row").notNull(),
    rows: text("rows").notNull(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.chunk] })],
);

/** Per-row failures of a job, in the API's field names; one per row, so a repeated step adds none. */
export const jobErrors = sqliteTable(
  "job_errors",
  {
    jobId: text("job_id").notNull(),
    row: integer("row").notNull(),
    email: text("email"),
    code: text("code").notNull(),
    errors: text("errors").notNull(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.row] })],
);

/** Small named values of the object: its connection id, the feed's pruning mark, schedule state. */
export const meta = sqliteTable("meta", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

export type JobRow = typeof jobs.$inferSelect;

export const DESTINATION_STATUSES = ["enabled", "disabled"] as const;
export type DestinationStatus = (typeof DESTINATION_STATUSES)[number];

/**
 * Where the connection's changes are pushed (the product's own app), as Standard Webhooks. The
 * signing secret is sealed with the integration's key ring; after a rotation the previous one
 * signs too, until `previous_until`.
 */
export const destinations = sqliteTable("destinations", {
  id: text("id").primaryKey(),
  url: text("url").notNull(),
  /** The change types delivered, as a JSON array (`contact.*` expanded when stored). */
  events: text("events").notNull(),
  description: text("description"),
  status: text("status", { enum: DESTINATION_STATUSES }).notNull(),
  /** Why it was disabled, when the integration disabled it (a 410 from the receiver). */
  disabledReason: text("disabled_reason"),
  secretEnc: text("secret_enc").notNull(),
  previousSecretEnc: text("previous_secret_enc"),
  /** Epoch ms until which the previous secret signs too. */
  previousUntil: integer("previous_until"),
  createdAt: text("created_at").notNull(),
  updatedAt: text("updated_at").notNull(),
});

export const DELIVERY_STATUSES = ["pending", "succeeded", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * One feed entry to one destination: written in the same transaction as the entry, so an event
 * in the feed is delivered or stays visibly `failed`. `lease_until`: a courier has it in hand.
 */
export const deliveries = sqliteTable(
  "deliveries",
  {
    id: text("id").primaryKey(),
    destinationId: text("destination_id").notNull(),
    seq: integer("seq").notNull(),
    eventId: text("event_id").notNull(),
    status: text("status", { enum: DELIVERY_STATUSES }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    /** Epoch ms of the next attempt while pending. */
    nextAttemptAt: integer("next_attempt_at").notNull(),
    /** Epoch ms of the first attempt (the retry horizon counts from it). */
    firstAttemptAt: integer("first_attempt_at"),
    leaseUntil: integer("lease_until").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    finishedAt: integer("finished_at"),
  },
  (t) => [
    uniqueIndex("deliveries_destination_seq_uq").on(t.destinationId, t.seq),
    index("deliveries_due_idx").on(t.destinationId, t.status, t.nextAttemptAt),
    index("deliveries_finished_idx").on(t.finishedAt),
  ],
);

/** The delivery log: one row per attempt, newest first in the API. */
export const deliveryAttempts = sqliteTable(
  "delivery_attempts",
  {
    id: text("id").primaryKey(),
    deliveryId: text("delivery_id").notNull(),
    destinationId: text("destination_id").notNull(),
    seq: integer("seq").notNull(),
    eventId: text("event_id").notNull(),
    attempt: integer("attempt").notNull(),
    /** What the delivery was after this attempt: pending (tried again later), succeeded, failed. */
    status: text("status", { enum: DELIVERY_STATUSES }).notNull(),
    responseStatus: integer("response_status"),
    responseExcerpt: text("response_excerpt"),
    error: text("error"),
    durationMs: integer("duration_ms").notNull(),
    attemptedAt: integer("attempted_at").notNull(),
    nextAttemptAt: integer("next_attempt_at"),
  },
  (t) => [
    index("delivery_attempts_destination_idx").on(t.destinationId, t.id),
    index("delivery_attempts_at_idx").on(t.attemptedAt),
  ],
);

export type DestinationRow = typeof destinations.$inferSelect;
export type DeliveryRow = typeof deliveries.$inferSelect;
export type DeliveryAttemptRow = typeof deliveryAttempts.$inferSelect;

/**
 * The connection's custom fields: which Acme property each API name maps to, with the property's
 * type (and an enumeration's options) as Acme stated them when it was mapped (Acme never changes
 * a property's type). Replaced as a whole by `PUT /api/v1/field-mappings`.
 */
export const fieldMappings = sqliteTable(
  "field_mappings",
  {
    apiName: text("api_name").primaryKey(),
    remote: text("remote").notNull(),
    type: text("type", { enum: CUSTOM_FIELD_TYPES }).notNull(),
    /** An enumeration's options, as a JSON array; null for the other types. */
    options: text("options"),
    label: text("label").notNull(),
  },
  (t) => [uniqueIndex("field_mappings_remote_uq").on(t.remote)],
);

export type FieldMappingRow = typeof fieldMappings.$inferSelect;
