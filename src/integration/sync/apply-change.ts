import { log } from "../../lib/logger.ts";
import { ContactCache } from "../cache/contact-cache.ts";
import { CONTACT_FIELDS } from "../contacts/mapping.ts";
import type { Contact } from "../contacts/schemas.ts";
import type { CHANGE_SOURCES } from "../db/schema.ts";

export type ChangeType = "contact.created" | "contact.updated" | "contact.deleted";
export type FieldChanges = Record<string, { from: unknown; to: unknown }>;

/** One change to one contact, from a webhook, a backfill or a reconciliation, in the API's shape. */
export interface IncomingChange {
  connectionId: string;
  eventId: string;
  type: ChangeType;
  occurredAt: string;
  contact: Contact;
  previous: Contact | null;
  deletedAt: string | null;
  source: (typeof CHANGE_SOURCES)[number];
}

const WRITABLE = CONTACT_FIELDS.filter((f) => f.writable).map((f) => f.api);

/** `{field: {from, to}}` over the writable fields, in API names. */
export function fieldChanges(previous: Contact | null, next: Contact, type: ChangeType): FieldChanges {
  if (type === "contact.deleted") return {};
  const changes: FieldChanges = {};
  for (const field of WRITABLE) {
    const from = previous ? (previous[field] ?? null) : null;
    const to = next[field] ?? null;
    if (from !== to) changes[field] = { from, to };
  }
  return changes;
}

/**
 * What applying a change did to the change feed: `appended` (a version newer than any recorded
 * for the contact), `duplicate` (this contact version is already in the feed, e.g. brought first
 * by reconciliation), `stale` (older than the contact's newest recorded version: deduplicated into
 * nothing, so the feed never moves a contact backwards).
 */
export type ApplyOutcome = "appended" | "duplicate" | "stale";

/**
 * Applies a change in one D1 batch: records the webhook id (a duplicate fails the batch, so
 * nothing is applied twice), moves the mirror forward only to a newer version (out-of-order
 * deliveries converge on the latest), and appends the change to the feed with the next sequence
 * number only if no version of the contact as new or newer is recorded, in the mirror or the
 * feed. Then drops the cached copy. Whichever path brings the change (webhook, reconciliation),
 * per contact the feed's versions only grow. A `stale` outcome is logged as
 * "stale change not appended to the feed".
 */
export async function applyChange(
  env: Env,
  change: IncomingChange,
  options: { webhookId?: string; cacheTtlSeconds: number },
): Promise<ApplyOutcome> {
  const now = new Date().toISOString();
  const { connectionId, contact } = change;
  const statements: D1PreparedStatement[] = [];
  if (options.webhookId) {
    statements.push(
      env.DB.prepare(
        "INSERT INTO processed_webhooks (connection_id, webhook_id, processed_at) VALUES (?, ?, ?)",
      ).bind(connectionId, options.webhookId, now),
    );
  }
  const appendAt = statements.length + 1;
  statements.push(
    env.DB.prepare(
      `INSERT INTO contact_mirror (connection_id, contact_id, version, data, deleted_at, synced_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (connection_id, contact_id) DO UPDATE SET
         version = excluded.version, data = excluded.data, deleted_at = excluded.deleted_at, synced_at = excluded.synced_at
       WHERE excluded.version > contact_mirror.version`,
    ).bind(connectionId, contact.id, contact.version, JSON.stringify(contact), change.deletedAt, now),
    // The outer WHERE (not the aggregate's) decides: an aggregate always yields one row.
    env.DB.prepare(
      `INSERT OR IGNORE INTO change_events
         (connection_id, seq, event_id, type, contact_id, version, occurred_at, contact, changes, source, recorded_at)
       SELECT ?, next_seq, ?, ?, ?, ?, ?, ?, ?, ?, ?
       FROM (SELECT COALESCE(MAX(seq), 0) + 1 AS next_seq FROM change_events WHERE connection_id = ?)
       WHERE NOT EXISTS (SELECT 1 FROM contact_mirror WHERE connection_id = ? AND contact_id = ? AND version > ?)
         AND NOT EXISTS (SELECT 1 FROM change_events WHERE connection_id = ? AND contact_id = ? AND version > ?)`,
    ).bind(
      connectionId,
      change.eventId,
      change.type,
      contact.id,
      contact.version,
      change.occurredAt,
      JSON.stringify(contact),
      JSON.stringify(fieldChanges(change.previous, contact, change.type)),
      change.source,
      now,
      connectionId,
      connectionId,
      contact.id,
      contact.version,
      connectionId,
      contact.id,
      contact.version,
    ),
    env.DB.prepare(
      `SELECT MAX(
         COALESCE((SELECT version FROM contact_mirror WHERE connection_id = ? AND contact_id = ?), 0),
         COALESCE((SELECT MAX(version) FROM change_events WHERE connection_id = ? AND contact_id = ?), 0)
       ) AS newest`,
    ).bind(connectionId, contact.id, connectionId, contact.id),
  );
  const results = await env.DB.batch<{ newest: number }>(statements);
  const appended = (results[appendAt]?.meta.changes ?? 0) > 0;
  const newest = results[appendAt + 1]?.results[0]?.newest ?? contact.version;
  const outcome: ApplyOutcome = appended ? "appended" : newest > contact.version ? "stale" : "duplicate";
  if (outcome === "stale") {
    log("info", "stale change not appended to the feed", {
      connectionId,
      contactId: contact.id,
      version: contact.version,
      newestVersion: newest,
      eventId: change.eventId,
      source: change.source,
    });
  }
  await new ContactCache(env.CACHE, connectionId, options.cacheTtlSeconds).invalidate(contact.id);
  return outcome;
}

export function isDuplicateWebhook(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (/UNIQUE constraint failed: processed_webhooks/i.test(e.message)) return true;
  }
  return false;
}
