import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { JOB_KINDS } from "../connection-data/schema.ts";

/** How a connection authenticates at Acme. */
export const CONNECTION_METHODS = ["client_credentials", "oauth"] as const;
export type ConnectionMethod = (typeof CONNECTION_METHODS)[number];
/** A connection's health as far as its credentials go. */
export const CONNECTION_STATUSES = ["active", "needs_reauth"] as const;
export type ConnectionStatus = (typeof CONNECTION_STATUSES)[number];

/** One Acme account the integration talks to; the Acme secret is stored AES-GCM encrypted. */
export const connections = sqliteTable(
  "connections",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    acmeBaseUrl: text("acme_base_url"),
    /** The Acme account: its client id (client credentials), or the account an OAuth grant acts on. */
    acmeClientId: text("acme_client_id").notNull(),
    /** The account's client secret (client credentials only; null for an OAuth connection). */
    acmeClientSecretEnc: text("acme_client_secret_enc"),
    /**
     * How the connection reaches Acme: `client_credentials` (the account's own id and secret) or
     * `oauth` (a grant approved by one of the account's users through the connect flow; its refresh
     * token lives, sealed, in the connection's AcmeSession).
     */
    method: text("method", { enum: CONNECTION_METHODS }).notNull().default("client_credentials"),
    /** The product's own id for the customer who connected (connect sessions); null for operator-made ones. */
    endUserId: text("end_user_id"),
    /** `needs_reauth`: Acme refused the OAuth grant (invalid_grant); calls fail fast until reconnected. */
    status: text("status", { enum: CONNECTION_STATUSES }).notNull().default("active"),
    /** The Standard Webhooks secret Acme signs this connection's webhooks with (encrypted). */
    webhookSecretEnc: text("webhook_secret_enc"),
    /** The Acme subscription made by `…/webhook-subscription` whose secret that is (null: none, or by hand). */
    webhookSubscriptionId: text("webhook_subscription_id"),
    /** Reconciliation has pulled Acme's changes up to this instant. */
    reconciledThrough: text("reconciled_through"),
    /**
     * When the cron's overdue sweep last checked this connection's schedule (ISO): the sweep takes
     * the connections it checked longest ago first, so every overdue one is reached in turn.
     */
    scheduleCheckedAt: text("schedule_checked_at"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [index("connections_end_user_idx").on(t.endUserId)],
);

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

export type ConnectionRow = typeof connections.$inferSelect;

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

/**
 * The index of active jobs, for the stalled-job sweep (the jobs themselves, their chunks and
 * errors live in the connection's `ConnectionData` object): one row from a job's start until it
 * ends. `lease_until` is when the sweep next asks the object about the job (epoch ms); the
 * object's own lease decides whether it is stalled.
 */
export const activeJobs = sqliteTable(
  "active_jobs",
  {
    jobId: text("job_id").primaryKey(),
    connectionId: text("connection_id").notNull(),
    kind: text("kind", { enum: JOB_KINDS }).notNull(),
    leaseUntil: integer("lease_until").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [index("active_jobs_lease_idx").on(t.leaseUntil)],
);
