import { log } from "../../lib/logger.ts";
import { ContactCache } from "../contacts/contact-cache.ts";
import { CONTACT_FIELDS } from "../contacts/mapping.ts";
import type { Contact } from "../contacts/schemas.ts";
import type { CHANGE_SOURCES } from "../db/schema.ts";
import type { ChangeType, FieldChanges } from "./change-types.ts";

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
 * The statements that apply one change: the webhook id's record when there is one (a duplicate
 * fails the batch, so nothing is applied twice), the mirror moved forward only to a newer version
 * (out-of-order deliveries converge on the latest), the feed append with the next sequence number
 * only if no version of the contact as new or newer is recorded (in the mirror or the feed), and
 * a read of the newest version recorded. `appendAt` is the append's index among them. Each
 * statement binds at most 16 parameters.
 */
function changeStatements(
  db: D1Database,
  change: IncomingChange,
  now: string,
  webhookId: string | undefined,
): { statements: D1PreparedStatement[]; appendAt: number } {
  const { connectionId, contact } = change;
  const statements: D1PreparedStatement[] = [];
  if (webhookId) {
    statements.push(
      db
        .prepare("INSERT INTO processed_webhooks (connection_id, webhook_id, processed_at) VALUES (?, ?, ?)")
        .bind(connectionId, webhookId, now),
    );
  }
  const appendAt = statements.length + 1;
  statements.push(
    db
      .prepare(
        `INSERT INTO contact_mirror (connection_id, contact_id, version, data, deleted_at, synced_at)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (connection_id, contact_id) DO UPDATE SET
         version = excluded.version, data = excluded.data, deleted_at = excluded.deleted_at, synced_at = excluded.synced_at
       WHERE excluded.version > contact_mirror.version`,
      )
      .bind(connectionId, contact.id, contact.version, JSON.stringify(contact), change.deletedAt, now),
    // The outer WHERE (not the aggregate's) decides: an aggregate always yields one row.
    db
      .prepare(
        `INSERT OR IGNORE INTO change_events
         (connection_id, seq, event_id, type, contact_id, version, occurred_at, contact, changes, source, recorded_at)
       SELECT ?, next_seq, ?, ?, ?, ?, ?, ?, ?, ?, ?
       FROM (SELECT COALESCE(MAX(seq), 0) + 1 AS next_seq FROM change_events WHERE connection_id = ?)
       WHERE NOT EXISTS (SELECT 1 FROM contact_mirror WHERE connection_id = ? AND contact_id = ? AND version > ?)
         AND NOT EXISTS (SELECT 1 FROM change_events WHERE connection_id = ? AND contact_id = ? AND version > ?)`,
      )
      .bind(
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
    db
      .prepare(
        `SELECT MAX(
         COALESCE((SELECT version FROM contact_mirror WHERE connection_id = ? AND contact_id = ?), 0),
         COALESCE((SELECT MAX(version) FROM change_events WHERE connection_id = ? AND contact_id = ?), 0)
       ) AS newest`,
      )
      .bind(connectionId, contact.id, connectionId, contact.id),
  );
  return { statements, appendAt };
}

function outcomeOf(
  change: IncomingChange,
  results: D1Result<{ newest: number }>[],
  appendAt: number,
): ApplyOutcome {
  const { contact } = change;
  const appended = (results[appendAt]?.meta.changes ?? 0) > 0;
  const newest = results[appendAt + 1]?.results[0]?.newest ?? contact.version;
  const outcome: ApplyOutcome = appended ? "appended" : newest > contact.version ? "stale" : "duplicate";
  if (outcome === "stale") {
    log("info", "stale change not appended to the feed", {
      connectionId: change.connectionId,
      contactId: contact.id,
      version: contact.version,
      newestVersion: newest,
      eventId: change.eventId,
      source: change.source,
    });
  }
  return outcome;
}

/**
 * Applies a change from a webhook, a backfill or a reconciliation in one D1 batch (see
 * `changeStatements`), then drops the cached copy. Whichever path brings the change, per contact
 * the feed's versions only grow. A `stale` outcome is logged as "stale change not appended to the
 * feed". Throws the batch's error; `isDuplicateWebhook` tells a redelivered webhook id.
 */
export async function applyChange(
  env: Env,
  change: IncomingChange,
  options: { webhookId?: string; cacheTtlSeconds: number },
): Promise<ApplyOutcome> {
  const { statements, appendAt } = changeStatements(
    env.DB,
    change,
    new Date().toISOString(),
    options.webhookId,
  );
  const results = await env.DB.batch<{ newest: number }>(statements);
  const outcome = outcomeOf(change, results, appendAt);
  await new ContactCache(env.CACHE, change.connectionId, options.cacheTtlSeconds).invalidate(
    change.contact.id,
    cacheFloor(change),
  );
  return outcome;
}

/**
 * Applies many changes (a page of a backfill or a reconciliation, at most one per contact, none
 * carrying a webhook id) with the same rules as `applyChange`, but set-based: the page travels as
 * one JSON parameter and two statements in one batch (one transaction) apply all of it, so a page
 * of any size costs one round trip and two of the queries an invocation may make, and binds a
 * handful of parameters. Feed sequence numbers follow the order of `changes`, without gaps. Then
 * the changed contacts' cached copies are dropped side by side. Returns how many changes were
 * appended to the feed (the rest were already there, or older than what is). Throws the batch's
 * error, having applied nothing.
 */
export async function applyChanges(
  env: Env,
  changes: IncomingChange[],
  options: { cacheTtlSeconds: number },
): Promise<number> {
  const [first] = changes;
  if (!first) return 0;
  const { connectionId } = first;
  if (changes.some((c) => c.connectionId !== connectionId)) {
    throw new RangeError("applyChanges takes the changes of one connection");
  }
  const now = new Date().toISOString();
  const page = JSON.stringify(
    changes.map((change) => ({
      id: change.contact.id,
      version: change.contact.version,
      eventId: change.eventId,
      type: change.type,
      occurredAt: change.occurredAt,
      contact: JSON.stringify(change.contact),
      changes: JSON.stringify(fieldChanges(change.previous, change.contact, change.type)),
      deletedAt: change.deletedAt,
      source: change.source,
    })),
  );
  const field = (name: string) => `json_extract(c.value, '$.${name}')`;
  const [, appended] = await env.DB.batch<{ contact_id: string }>([
    // "WHERE true" tells SQLite's parser the ON CONFLICT belongs to the INSERT, not to a join.
    env.DB.prepare(
      `INSERT INTO contact_mirror (connection_id, contact_id, version, data, deleted_at, synced_at)
       SELECT ?1, ${field("id")}, ${field("version")}, ${field("contact")}, ${field("deletedAt")}, ?2
       FROM json_each(?3) AS c WHERE true
       ON CONFLICT (connection_id, contact_id) DO UPDATE SET
         version = excluded.version, data = excluded.data, deleted_at = excluded.deleted_at, synced_at = excluded.synced_at
       WHERE excluded.version > contact_mirror.version`,
    ).bind(connectionId, now, page),
    // Numbered after the filter, so only appended changes take a sequence number. A version the
    // feed already holds is filtered out here (not ignored by the unique index), so no gaps.
    env.DB.prepare(
      `INSERT INTO change_events
         (connection_id, seq, event_id, type, contact_id, version, occurred_at, contact, changes, source, recorded_at)
       SELECT ?1, last.seq + ROW_NUMBER() OVER (ORDER BY c.key), ${field("eventId")}, ${field("type")},
              ${field("id")}, ${field("version")}, ${field("occurredAt")}, ${field("contact")},
              ${field("changes")}, ${field("source")}, ?2
       FROM json_each(?3) AS c,
            (SELECT COALESCE(MAX(seq), 0) AS seq FROM change_events WHERE connection_id = ?1) AS last
       WHERE NOT EXISTS (SELECT 1 FROM contact_mirror m WHERE m.connection_id = ?1
                           AND m.contact_id = ${field("id")} AND m.version > ${field("version")})
         AND NOT EXISTS (SELECT 1 FROM change_events e WHERE e.connection_id = ?1
                           AND e.contact_id = ${field("id")} AND e.version >= ${field("version")})
       RETURNING contact_id`,
    ).bind(connectionId, now, page),
  ]);
  const count = appended?.results.length ?? 0;
  if (count < changes.length) {
    log("info", "changes already in the feed not appended", {
      connectionId,
      changes: changes.length,
      appended: count,
      source: first.source,
    });
  }
  const cache = new ContactCache(env.CACHE, connectionId, options.cacheTtlSeconds);
  await Promise.all(changes.map((change) => cache.invalidate(change.contact.id, cacheFloor(change))));
  return count;
}

/** The oldest version a cached copy may hold after `change`: its own, or past it for a delete. */
function cacheFloor(change: IncomingChange): number {
  return change.type === "contact.deleted" ? change.contact.version + 1 : change.contact.version;
}

/** Whether `error` (or one of its causes) is D1 refusing a webhook id already processed. */
export function isDuplicateWebhook(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (/UNIQUE constraint failed: processed_webhooks/i.test(e.message)) return true;
  }
  return false;
}
