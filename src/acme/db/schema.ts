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
