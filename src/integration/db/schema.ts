import { index, integer, primaryKey, sqliteTable, text } from "drizzle-orm/sqlite-core";

/** One Acme account the integration talks to; the Acme secret is stored AES-GCM encrypted. */
export const connections = sqliteTable("connections", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  acmeBaseUrl: text("acme_base_url"),
  acmeClientId: text("acme_client_id").notNull(),
  acmeClientSecretEnc: text("acme_client_secret_enc").notNull(),
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
