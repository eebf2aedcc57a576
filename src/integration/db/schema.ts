import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** One Acme account the integration talks to; the Acme secret is stored AES-GCM encrypted. */
export const connections = sqliteTable("connections", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  acmeBaseUrl: text("acme_base_url"),
  acmeClientId: text("acme_client_id").notNull(),
  acmeClientSecretEnc: text("acme_client_secret_enc").notNull(),
  /** The Standard Webhooks secret Acme signs this connection's webhooks with (encrypted). */
  webhookSecretEnc: text("webhook_secret_enc"),
  /** The Acme subscription made by `…/webhook-subscription` whose secret that is (null: none, or by hand). */
  webhookSubscriptionId: text("webhook_subscription_id"),
  /** Reconciliation has pulled Acme's changes up to this instant. */
  reconciledThrough: text("reconciled_through"),
  createdAt: text("created_at").notNull(),
});

/** API keys are random 32-byte secrets, so a SHA-256 hash is enough to store them safely. */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    connectionId: text("connection_id")
      .notNull()
      .references(() => connections.id),
    keyHash: text("key_hash").notNull().unique(),
    prefix: text("prefix").notNull(),
    createdAt: text("created_at").notNull(),
    revokedAt: text("revoked_at"),
  },
  (t) => [index("api_keys_connection_idx").on(t.connectionId)],
);

export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    connectionId: text("connection_id").notNull(),
    key: text("key").notNull(),
    requestHash: text("request_hash").notNull(),
    state: text("state", { enum: ["in_flight", "done"] }).notNull(),
    responseStatus: integer("response_status"),
    responseHeaders: text("response_headers"),
    responseBody: text("response_body"),
    lockedUntil: integer("locked_until").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.connectionId, t.key] }), index("idempotency_expiry_idx").on(t.expiresAt)],
);

export type ConnectionRow = typeof connections.$inferSelect;

/** Webhook ids already applied, so a redelivered webhook changes nothing. */
export const processedWebhooks = sqliteTable(
  "processed_webhooks",
  {
    connectionId: text("connection_id").notNull(),
    webhookId: text("webhook_id").notNull(),
    processedAt: text("processed_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.connectionId, t.webhookId] })],
);

/** The connection's view of Acme's contacts: the highest version seen, in API shape. */
export const contactMirror = sqliteTable(
  "contact_mirror",
  {
    connectionId: text("connection_id").notNull(),
    contactId: text("contact_id").notNull(),
    version: integer("version").notNull(),
    /** The contact in the API's shape (JSON). */
    data: text("data").notNull(),
    deletedAt: text("deleted_at"),
    syncedAt: text("synced_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.connectionId, t.contactId] })],
);

export const CHANGE_SOURCES = ["webhook", "reconciliation", "backfill"] as const;

/**
 * The change feed: one row per contact version per connection, numbered without gaps. The
 * unique (contact, version) key makes a webhook and a reconciliation of the same change one event.
 */
export const changeEvents = sqliteTable(
  "change_events",
  {
    connectionId: text("connection_id").notNull(),
    seq: integer("seq").notNull(),
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
    primaryKey({ columns: [t.connectionId, t.seq] }),
    uniqueIndex("change_events_version_uq").on(t.connectionId, t.contactId, t.version),
  ],
);

/** Inbox messages that could not be applied: kept for inspection and replay. */
export const deadLetters = sqliteTable(
  "dead_letters",
  {
    id: text("id").primaryKey(),
    connectionId: text("connection_id"),
    webhookId: text("webhook_id"),
    body: text("body").notNull(),
    reason: text("reason").notNull(),
    receivedAt: text("received_at").notNull(),
    replayedAt: text("replayed_at"),
  },
  (t) => [index("dead_letters_received_idx").on(t.receivedAt)],
);

export const JOB_KINDS = ["import", "backfill", "reconcile"] as const;
export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export type JobStatus = (typeof JOB_STATUSES)[number];

/**
 * One long task of a connection (import, backfill, reconcile), run by a Workflow instance with
 * the same id. `checkpoint` is where the next step starts (an import's next chunk number, a
 * sync's Acme page cursor); a step moves it together with the counters, only from the value it
 * started at, so a repeated step counts nothing twice.
 */
export const jobs = sqliteTable(
  "jobs",
  {
    id: text("id").primaryKey(),
    connectionId: text("connection_id").notNull(),
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
    /** When progress is next expected (epoch ms): the restart sweep's lease. */
    leaseUntil: integer("lease_until").notNull(),
    /**
     * The Workflow instance that runs the job now: null for the first, which has the job's id;
     * a long job goes on in a fresh instance before it reaches the per-instance step limit.
     */
    instanceId: text("instance_id"),
  },
  (t) => [
    index("jobs_connection_idx").on(t.connectionId, t.id),
    index("jobs_active_idx").on(t.status, t.leaseUntil),
  ],
);

export type JobRow = typeof jobs.$inferSelect;

/**
 * An import's rows between the request and the steps, one chunk (one step's work) per row as
 * JSON. D1 rather than R2: the rows are small (the body limit bounds them), a step reads its chunk
 * next to the job's checkpoint in the same database, and no other binding is needed.
 */
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
