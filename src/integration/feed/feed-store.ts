import { and, asc, desc, eq, gt, lt, or, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { log } from "../../lib/logger.ts";
import { type ChangeSource, changeEvents } from "../connection-data/schema.ts";
import type { AcmeContact } from "../contacts/acme-contact-schema.ts";
import {
  CONTACT_FIELDS,
  type CustomFieldMapping,
  type CustomValue,
  fromAcme,
  rawCustomChangeKey,
} from "../contacts/mapping.ts";
import type { StoredContact } from "../contacts/schemas.ts";
import { containsText } from "../db/contains-text.ts";
import { type ChangeEvent, toChangeEvent } from "./change-event.ts";
import type { ChangeType, FieldChanges } from "./change-types.ts";

/**
 * One change to one contact, from a webhook, a backfill or a reconciliation, as the integration
 * keeps it (custom values raw, mapped per connection when read).
 */
export interface IncomingChange {
  eventId: string;
  type: ChangeType;
  occurredAt: string;
  contact: StoredContact;
  previous: StoredContact | null;
  deletedAt: string | null;
  source: ChangeSource;
  /** A webhook's `webhook-id`: a second change with the same id is a redelivery, applied once. */
  webhookId?: string;
}

/**
 * What applying a change did: `appended` to the feed (a version newer than any recorded for the
 * contact), `duplicate` (this contact version is already in the feed, or the webhook id was
 * applied before), `stale` (older than the contact's newest recorded version: deduplicated into
 * nothing, so the feed never moves a contact backwards).
 */
export type ApplyOutcome = "appended" | "duplicate" | "stale";

/** A cached copy the caller must invalidate: the contact, and the oldest version a copy may keep. */
export interface CacheInvalidation {
  contactId: string;
  minVersion: number;
}

/** A page of a connection's feed, or the news that the cursor's next entry was pruned. */
export type FeedPage =
  | { expired: false; events: ChangeEvent[] }
  | {
      expired: true;
      /** The smallest `after` still served. */
      oldestAfter: number;
    };

/** Which of a connection's changes to read: `contact` is a contact's id or part of its email. */
export interface FeedSelection {
  contact?: string | undefined;
  type?: ChangeType | undefined;
}

const WRITABLE = CONTACT_FIELDS.filter((f) => f.writable).map((f) => f.api);

/**
 * `{field: {from, to}}` over the writable fields, in API names, and over Acme's custom values, by
 * Acme's property names (`acme_custom.<name>`: the feed maps them per connection when read).
 */
export function fieldChanges(
  previous: StoredContact | null,
  next: StoredContact,
  type: ChangeType,
): FieldChanges {
  if (type === "contact.deleted") return {};
  const changes: FieldChanges = {};
  for (const field of WRITABLE) {
    const from = previous ? (previous[field] ?? null) : null;
    const to = next[field] ?? null;
    if (from !== to) changes[field] = { from, to };
  }
  const before = previous?.acmeCustom ?? {};
  const after = next.acmeCustom ?? {};
  const held = (values: Record<string, CustomValue>, name: string) =>
    Object.hasOwn(values, name) ? (values[name] ?? null) : null;
  for (const name of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const from = held(before, name);
    const to = held(after, name);
    if (from !== to) changes[rawCustomChangeKey(name)] = { from, to };
  }
  return changes;
}

/** The oldest version a cached copy may hold after `change`: its own, or past it for a delete. */
export function cacheFloor(change: Pick<IncomingChange, "type" | "contact">): number {
  return change.type === "contact.deleted" ? change.contact.version + 1 : change.contact.version;
}

type Row = Record<string, SqlStorageValue>;

/**
 * One connection's contact mirror and change feed, in its `ConnectionData` object's SQLite
 * storage. Every method is synchronous and runs in the object's single thread, so each is atomic
 * against the others; the multi-statement ones run in a transaction.
 */
export class FeedStore {
  /**
   * `onAppended` runs inside the transaction that appended entries, with their sequence numbers
   * and types (the destinations record their deliveries there, so an entry never lacks them).
   */
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly db: DrizzleSqliteDODatabase,
    private readonly connectionId: string,
    private readonly onAppended: (entries: { seq: number; type: string }[]) => void = () => {},
    /** The connection's custom-field mapping, applied to every entry read. */
    private readonly mapping: () => readonly CustomFieldMapping[] = () => [],
  ) {}

  private exec<T extends Row>(query: string, ...bindings: unknown[]): T[] {
    return this.storage.sql.exec<T>(query, ...bindings).toArray();
  }

  /**
   * Applies one change: the webhook id's record when there is one (a redelivery changes nothing),
   * the mirror moved forward only to a newer version (out-of-order deliveries converge on the
   * latest), and the feed append with the next sequence number only if no version of the contact
   * as new or newer is recorded. One transaction; throws what SQLite throws, having applied nothing.
   */
  applyChange(change: IncomingChange, now: Date): ApplyOutcome {
    return this.storage.transactionSync(() => {
      const { contact } = change;
      if (change.webhookId !== undefined) {
        const recorded = this.storage.sql.exec(
          "INSERT OR IGNORE INTO processed_webhooks (webhook_id, processed_at) VALUES (?, ?)",
          change.webhookId,
          now.getTime(),
        ).rowsWritten;
        if (recorded === 0) return "duplicate";
      }
      const at = now.toISOString();
      const newest =
        this.exec<{ newest: number }>(
          `SELECT MAX(
             COALESCE((SELECT version FROM contact_mirror WHERE contact_id = ?1), 0),
             COALESCE((SELECT MAX(version) FROM change_events WHERE contact_id = ?1), 0)
           ) AS newest`,
          contact.id,
        )[0]?.newest ?? 0;
      this.storage.sql.exec(
        `INSERT INTO contact_mirror (contact_id, version, data, deleted_at, synced_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (contact_id) DO UPDATE SET
           version = excluded.version, data = excluded.data, deleted_at = excluded.deleted_at, synced_at = excluded.synced_at
         WHERE excluded.version > contact_mirror.version`,
        contact.id,
        contact.version,
        JSON.stringify(contact),
        change.deletedAt,
        at,
      );
      if (newest > contact.version) {
        log("info", "stale change not appended to the feed", {
          connectionId: this.connectionId,
          contactId: contact.id,
          version: contact.version,
          newestVersion: newest,
          eventId: change.eventId,
          source: change.source,
        });
        return "stale";
      }
      // The mirror never trails the feed, so a version it holds was recorded (and maybe pruned since).
      if (newest === contact.version) return "duplicate";
      const appended = this.exec<{ seq: number; type: string }>(
        `INSERT INTO change_events
           (seq, event_id, type, contact_id, version, occurred_at, contact, changes, source, recorded_at)
         SELECT COALESCE(MAX(seq), ?) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM change_events
         RETURNING seq, type`,
        this.prunedThrough(),
        change.eventId,
        change.type,
        contact.id,
        contact.version,
        change.occurredAt,
        JSON.stringify(contact),
        JSON.stringify(fieldChanges(change.previous, contact, change.type)),
        change.source,
        at,
      );
      this.onAppended(appended);
      return "appended";
    });
  }

  /**
   * Applies many changes (a page of a backfill or a reconciliation, at most one per contact, none
   * carrying a webhook id) with the same rules as `applyChange`, set-based: the page is one JSON
   * parameter and two statements in one transaction apply all of it. Feed sequence numbers
   * follow the order of `changes`, without gaps. Returns how many were appended.
   */
  applyChanges(changes: IncomingChange[], now: Date): number {
    if (changes.length === 0) return 0;
    const at = now.toISOString();
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
    const appended = this.storage.transactionSync(() => {
      // Numbered before the mirror moves, and only the changes that pass the filter take a number.
      const rows = this.exec<{ seq: number; type: string }>(
        `INSERT INTO change_events
           (seq, event_id, type, contact_id, version, occurred_at, contact, changes, source, recorded_at)
         SELECT last.seq + ROW_NUMBER() OVER (ORDER BY c.key), ${field("eventId")}, ${field("type")},
                ${field("id")}, ${field("version")}, ${field("occurredAt")}, ${field("contact")},
                ${field("changes")}, ${field("source")}, ?1
         FROM json_each(?2) AS c,
              (SELECT COALESCE(MAX(seq), ?3) AS seq FROM change_events) AS last
         WHERE NOT EXISTS (SELECT 1 FROM contact_mirror m
                             WHERE m.contact_id = ${field("id")} AND m.version > ${field("version")})
           AND NOT EXISTS (SELECT 1 FROM change_events e
                             WHERE e.contact_id = ${field("id")} AND e.version >= ${field("version")})
         RETURNING seq, type`,
        at,
        page,
        this.prunedThrough(),
      );
      this.onAppended(rows);
      // "WHERE true" tells SQLite's parser the ON CONFLICT belongs to the INSERT, not to a join.
      this.storage.sql.exec(
        `INSERT INTO contact_mirror (contact_id, version, data, deleted_at, synced_at)
         SELECT ${field("id")}, ${field("version")}, ${field("contact")}, ${field("deletedAt")}, ?1
         FROM json_each(?2) AS c WHERE true
         ON CONFLICT (contact_id) DO UPDATE SET
           version = excluded.version, data = excluded.data, deleted_at = excluded.deleted_at, synced_at = excluded.synced_at
         WHERE excluded.version > contact_mirror.version`,
        at,
        page,
      );
      return rows.length;
    });
    if (appended < changes.length) {
      log("info", "changes already in the feed not appended", {
        connectionId: this.connectionId,
        changes: changes.length,
        appended,
        source: changes[0]?.source,
      });
    }
    return appended;
  }

  /**
   * Applies one page of Acme's contacts (a backfill's or a reconciliation's): every contact whose
   * Acme version is newer than the mirror's becomes a change with this `source` (see
   * `applyChanges`). Returns the changes applied (appended or not) and how many were appended.
   */
  applyAcmePage(
    contacts: AcmeContact[],
    source: "backfill" | "reconciliation",
    now: Date,
  ): { changes: IncomingChange[]; appended: number } {
    if (contacts.length === 0) return { changes: [], appended: 0 };
    const known = new Map(
      this.exec<{ contact_id: string; version: number; data: string }>(
        `SELECT contact_id, version, data FROM contact_mirror
         WHERE contact_id IN (SELECT value FROM json_each(?))`,
        JSON.stringify(contacts.map((c) => c.id)),
      ).map((m) => [m.contact_id, m]),
    );
    const changes: IncomingChange[] = [];
    for (const acmeContact of contacts) {
      const mirrored = known.get(acmeContact.id);
      if (mirrored && mirrored.version >= acmeContact.acme_version) continue;
      const deletedAt = acmeContact.acme_deleted_at ?? null;
      const type: ChangeType = deletedAt
        ? "contact.deleted"
        : mirrored
          ? "contact.updated"
          : "contact.created";
      changes.push({
        eventId: `${source === "backfill" ? "bf" : "rec"}_${acmeContact.id}_v${acmeContact.acme_version}`,
        type,
        occurredAt: acmeContact.acme_updated_at,
        contact: fromAcme(acmeContact) as StoredContact,
        previous: mirrored ? (JSON.parse(mirrored.data) as StoredContact) : null,
        deletedAt,
        source,
      });
    }
    return { changes, appended: this.applyChanges(changes, now) };
  }

  /**
   * The feed after sequence number `after`, oldest first, at most `limit`, only what `selection`
   * keeps; expired when entries after `after` were pruned (see {@link FeedPage}).
   */
  changesAfter(after: number, limit: number, selection: FeedSelection = {}): FeedPage {
    const prunedThrough = this.prunedThrough();
    if (after < prunedThrough) return { expired: true, oldestAfter: prunedThrough };
    const rows = this.db
      .select()
      .from(changeEvents)
      .where(and(selected(selection), gt(changeEvents.seq, after)))
      .orderBy(asc(changeEvents.seq))
      .limit(limit)
      .all();
    const mapping = this.mapping();
    return { expired: false, events: rows.map((row) => toChangeEvent(row, mapping)) };
  }

  /** The newest changes (those before `before`, when given), newest first, at most `limit`. */
  changesBefore(before: number | undefined, limit: number, selection: FeedSelection = {}): ChangeEvent[] {
    return this.db
      .select()
      .from(changeEvents)
      .where(and(selected(selection), before !== undefined ? lt(changeEvents.seq, before) : undefined))
      .orderBy(desc(changeEvents.seq))
      .limit(limit)
      .all()
      .map((row) => toChangeEvent(row, this.mapping()));
  }

  /** The highest sequence number pruned (0: none); the feed's next entry is always after it. */
  prunedThrough(): number {
    return Number(
      this.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'feed_pruned_through'")[0]?.value ?? 0,
    );
  }

  /**
   * Deletes at most `limit` feed entries recorded before `before`, oldest first, and moves the
   * pruning mark past them (the newest entry is kept, so sequence numbers keep growing). Returns
   * how many were deleted.
   */
  prune(before: Date, limit: number): number {
    return this.storage.transactionSync(() => {
      const rows = this.exec<{ seq: number }>(
        `DELETE FROM change_events WHERE seq IN (
           SELECT seq FROM change_events WHERE recorded_at < ? AND seq < (SELECT MAX(seq) FROM change_events)
           ORDER BY seq LIMIT ?)
         RETURNING seq`,
        before.toISOString(),
        limit,
      );
      const highest = Math.max(0, ...rows.map((r) => r.seq));
      if (highest > 0) {
        this.storage.sql.exec(
          `INSERT INTO meta (key, value) VALUES ('feed_pruned_through', ?1)
           ON CONFLICT (key) DO UPDATE SET value = ?1 WHERE CAST(meta.value AS INTEGER) < ?1`,
          String(highest),
        );
      }
      return rows.length;
    });
  }

  /** Mirror size and the feed's last sequence number, for the console and the status route. */
  counts(): { contacts: number; deleted: number; lastSeq: number } {
    const row = this.exec<{ contacts: number; deleted: number; last_seq: number }>(
      `SELECT (SELECT COUNT(*) FROM contact_mirror WHERE deleted_at IS NULL) AS contacts,
              (SELECT COUNT(*) FROM contact_mirror WHERE deleted_at IS NOT NULL) AS deleted,
              (SELECT COALESCE(MAX(seq), 0) FROM change_events) AS last_seq`,
    )[0];
    return { contacts: row?.contacts ?? 0, deleted: row?.deleted ?? 0, lastSeq: row?.last_seq ?? 0 };
  }
}

function selected(selection: FeedSelection) {
  return and(
    selection.contact
      ? or(
          eq(changeEvents.contactId, selection.contact),
          containsText(sql`json_extract(${changeEvents.contact}, '$.email')`, selection.contact),
        )
      : undefined,
    selection.type ? eq(changeEvents.type, selection.type) : undefined,
  );
}
