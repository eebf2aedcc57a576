import { and, desc, eq, lt } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { newId } from "../../lib/ids.ts";
import {
  type DeliveryAttemptRow,
  type DeliveryStatus,
  type DestinationRow,
  type DestinationStatus,
  deliveryAttempts,
  destinations,
} from "../connection-data/schema.ts";
import type { CustomFieldMapping } from "../contacts/mapping.ts";
import { type ChangeEvent, toChangeEvent } from "../feed/change-event.ts";

/** How long a courier holds the deliveries it claimed before they are due again, ms. */
export const CLAIM_LEASE_MS = 60_000;

/** After a rotation, the previous secret signs too for this long, ms. */
export const PREVIOUS_SECRET_MS = 24 * 3_600_000;

/** A feed entry just appended: what the destinations' filters and deliveries need of it. */
export interface AppendedEntry {
  seq: number;
  type: string;
}

/** A delivery a courier has in hand: the destination's URL, the entry to send, the attempt count so far. */
export interface ClaimedDelivery {
  id: string;
  seq: number;
  attempts: number;
  firstAttemptAt: number | null;
  event: ChangeEvent | null;
}

/** What a courier learned from one attempt (see `lib/webhook-delivery.ts`). */
export interface AttemptReport {
  deliveryId: string;
  /** Null: not attempted (the courier ran out of time or budget); it becomes due again at once. */
  outcome: null | {
    kind: "delivered" | "gone" | "retry";
    status: number | null;
    excerpt: string;
    error: string | null;
    durationMs: number;
    attemptedAt: number;
    /** For a retry: when the next attempt is due (epoch ms), or null when the retries ran out. */
    nextAttemptAt: number | null;
  };
}

/** A delivery as it stands now; `nextAttemptAt` (epoch ms) while it is pending. */
export interface DeliveryState {
  id: string;
  status: DeliveryStatus;
  nextAttemptAt: number | null;
}

/**
 * The connection's destinations and the state of their deliveries, in its `ConnectionData`
 * object's SQLite storage. Synchronous: each method is atomic in the object's one thread; those
 * that write several rows run in a transaction.
 */
export class DestinationStore {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly db: DrizzleSqliteDODatabase,
  ) {}

  private exec<T extends Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]): T[] {
    return this.storage.sql.exec<T>(query, ...bindings).toArray();
  }

  /** Stores a new destination (enabled). */
  create(
    input: { id: string; url: string; events: string[]; description: string | null; secretEnc: string },
    now: Date,
  ): DestinationRow {
    const row: DestinationRow = {
      id: input.id,
      url: input.url,
      events: JSON.stringify(input.events),
      description: input.description,
      status: "enabled",
      disabledReason: null,
      secretEnc: input.secretEnc,
      previousSecretEnc: null,
      previousUntil: null,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
    };
    this.db.insert(destinations).values(row).run();
    return row;
  }

  /** Every destination, oldest first. */
  list(): DestinationRow[] {
    return this.db.select().from(destinations).orderBy(destinations.id).all();
  }

  /** The destination, or null. */
  get(id: string): DestinationRow | null {
    return this.db.select().from(destinations).where(eq(destinations.id, id)).get() ?? null;
  }

  /**
   * Changes what is given; re-enabling clears the reason it was disabled. Disabling ends its
   * pending deliveries as failed (recoverable). Returns the row as it is now, or null.
   */
  update(
    id: string,
    patch: { url?: string; events?: string[]; description?: string | null; status?: DestinationStatus },
    now: Date,
  ): DestinationRow | null {
    return this.storage.transactionSync(() => {
      const current = this.get(id);
      if (!current) return null;
      this.db
        .update(destinations)
        .set({
          ...(patch.url !== undefined ? { url: patch.url } : {}),
          ...(patch.events !== undefined ? { events: JSON.stringify(patch.events) } : {}),
          ...(patch.description !== undefined ? { description: patch.description } : {}),
          ...(patch.status !== undefined ? { status: patch.status } : {}),
          ...(patch.status === "enabled" ? { disabledReason: null } : {}),
          updatedAt: now.toISOString(),
        })
        .where(eq(destinations.id, id))
        .run();
      if (patch.status === "disabled" && current.status === "enabled") {
        this.failPending(id, now.getTime());
      }
      return this.get(id);
    });
  }

  /** Deletes the destination with its deliveries and their log; false when there was none. */
  delete(id: string): boolean {
    return this.storage.transactionSync(() => {
      if (!this.get(id)) return false;
      this.storage.sql.exec("DELETE FROM delivery_attempts WHERE destination_id = ?", id);
      this.storage.sql.exec("DELETE FROM deliveries WHERE destination_id = ?", id);
      this.storage.sql.exec("DELETE FROM destinations WHERE id = ?", id);
      return true;
    });
  }

  /** Makes `secretEnc` the signing secret; the current one goes on signing until `now` + PREVIOUS_SECRET_MS. */
  rotate(id: string, secretEnc: string, now: Date): DestinationRow | null {
    const current = this.get(id);
    if (!current) return null;
    this.db
      .update(destinations)
      .set({
        secretEnc,
        previousSecretEnc: current.secretEnc,
        previousUntil: now.getTime() + PREVIOUS_SECRET_MS,
        updatedAt: now.toISOString(),
      })
      .where(eq(destinations.id, id))
      .run();
    return this.get(id);
  }

  /**
   * Records a delivery of each appended entry to every enabled destination whose filter takes its
   * type, due now. Runs inside the append's transaction, so an entry in the feed has its
   * deliveries. Returns the destinations that got one.
   */
  enqueue(entries: AppendedEntry[], now: number): string[] {
    if (entries.length === 0) return [];
    return this.exec<{ destination_id: string }>(
      `INSERT INTO deliveries (id, destination_id, seq, event_id, status, attempts, next_attempt_at, lease_until, created_at)
       SELECT 'dlv_' || lower(hex(randomblob(12))), d.id, json_extract(e.value, '$.seq'), ev.event_id, 'pending', 0, ?1, 0, ?1
       FROM destinations d, json_each(?2) e
       JOIN change_events ev ON ev.seq = json_extract(e.value, '$.seq')
       WHERE d.status = 'enabled'
         AND EXISTS (SELECT 1 FROM json_each(d.events) t WHERE t.value = json_extract(e.value, '$.type'))
       ON CONFLICT (destination_id, seq) DO NOTHING
       RETURNING destination_id`,
      now,
      JSON.stringify(entries),
    )
      .map((r) => r.destination_id)
      .filter((id, i, all) => all.indexOf(id) === i);
  }

  /**
   * Up to `limit` deliveries of the destination due by `now` and not in a courier's hand, oldest
   * entry first, leased for CLAIM_LEASE_MS, each with its feed entry (null if it was pruned) as the
   * connection's custom-field `mapping` shows it now.
   */
  claim(
    destinationId: string,
    limit: number,
    now: number,
    mapping: readonly CustomFieldMapping[] = [],
  ): ClaimedDelivery[] {
    return this.storage.transactionSync(() => {
      const rows = this.exec<{ id: string; seq: number; attempts: number; first_attempt_at: number | null }>(
        `UPDATE deliveries SET lease_until = ?1
         WHERE id IN (
           SELECT id FROM deliveries
           WHERE destination_id = ?2 AND status = 'pending' AND next_attempt_at <= ?3 AND lease_until < ?3
           ORDER BY seq LIMIT ?4)
         RETURNING id, seq, attempts, first_attempt_at`,
        now + CLAIM_LEASE_MS,
        destinationId,
        now,
        limit,
      ).sort((a, b) => a.seq - b.seq);
      if (rows.length === 0) return [];
      const events = new Map(
        this.exec(
          "SELECT * FROM change_events WHERE seq IN (SELECT value FROM json_each(?))",
          JSON.stringify(rows.map((r) => r.seq)),
        ).map((row) => {
          const event = toChangeEvent(
            {
              seq: row.seq as number,
              eventId: row.event_id as string,
              type: row.type as string,
              contactId: row.contact_id as string,
              version: row.version as number,
              occurredAt: row.occurred_at as string,
              contact: row.contact as string,
              changes: row.changes as string,
              source: row.source as ChangeEvent["source"],
              recordedAt: row.recorded_at as string,
            },
            mapping,
          );
          return [event.seq, event] as const;
        }),
      );
      return rows.map((r) => ({
        id: r.id,
        seq: r.seq,
        attempts: r.attempts,
        firstAttemptAt: r.first_attempt_at,
        event: events.get(r.seq) ?? null,
      }));
    });
  }

  /**
   * Records what a courier did: each attempt in the log, and the delivery's new state. A 410
   * disables the destination at once and ends its pending deliveries as failed. Returns when the
   * destination's next delivery is due (epoch ms; `now` or earlier when one is due already), or
   * null when none is pending.
   */
  record(destinationId: string, reports: AttemptReport[], now: number): number | null {
    return this.storage.transactionSync(() => {
      let gone = false;
      for (const report of reports) {
        const { outcome } = report;
        if (!outcome) {
          this.storage.sql.exec("UPDATE deliveries SET lease_until = 0 WHERE id = ?", report.deliveryId);
          continue;
        }
        const delivery = this.exec<{ seq: number; event_id: string; attempts: number }>(
          "SELECT seq, event_id, attempts FROM deliveries WHERE id = ? AND destination_id = ?",
          report.deliveryId,
          destinationId,
        )[0];
        if (!delivery) continue;
        const status: DeliveryStatus =
          outcome.kind === "delivered"
            ? "succeeded"
            : outcome.kind === "gone" || outcome.nextAttemptAt === null
              ? "failed"
              : "pending";
        const attempt = delivery.attempts + 1;
        this.storage.sql.exec(
          `UPDATE deliveries SET status = ?1, attempts = ?2, lease_until = 0,
             next_attempt_at = COALESCE(?3, next_attempt_at),
             first_attempt_at = COALESCE(first_attempt_at, ?4),
             finished_at = CASE WHEN ?1 = 'pending' THEN NULL ELSE ?5 END
           WHERE id = ?6`,
          status,
          attempt,
          status === "pending" ? outcome.nextAttemptAt : null,
          outcome.attemptedAt,
          now,
          report.deliveryId,
        );
        this.db
          .insert(deliveryAttempts)
          .values({
            id: newId("att"),
            deliveryId: report.deliveryId,
            destinationId,
            seq: delivery.seq,
            eventId: delivery.event_id,
            attempt,
            status,
            responseStatus: outcome.status,
            responseExcerpt: outcome.excerpt,
            error: outcome.error,
            durationMs: outcome.durationMs,
            attemptedAt: outcome.attemptedAt,
            nextAttemptAt: status === "pending" ? outcome.nextAttemptAt : null,
          })
          .run();
        if (outcome.kind === "gone") gone = true;
      }
      if (gone) {
        this.db
          .update(destinations)
          .set({
            status: "disabled",
            disabledReason: `The receiver answered 410 Gone at ${new Date(now).toISOString()}.`,
            updatedAt: new Date(now).toISOString(),
          })
          .where(eq(destinations.id, destinationId))
          .run();
        this.failPending(destinationId, now);
      }
      return this.nextDue(destinationId);
    });
  }

  /** When the destination's next pending delivery is due (a leased one: when its lease ends), or null. */
  nextDue(destinationId: string): number | null {
    const row = this.exec<{ due: number | null }>(
      `SELECT MIN(MAX(next_attempt_at, lease_until)) AS due FROM deliveries
       WHERE destination_id = ? AND status = 'pending'`,
      destinationId,
    )[0];
    return row?.due ?? null;
  }

  /** Enabled destinations with a delivery due by `now` and in no courier's hand. */
  dueDestinations(now: number): string[] {
    return this.exec<{ destination_id: string }>(
      `SELECT DISTINCT destination_id FROM deliveries
       WHERE status = 'pending' AND next_attempt_at <= ?1 AND lease_until < ?1`,
      now,
    ).map((r) => r.destination_id);
  }

  /** Ends the destination's pending deliveries as failed (it was disabled). */
  private failPending(destinationId: string, now: number): void {
    this.storage.sql.exec(
      `UPDATE deliveries SET status = 'failed', lease_until = 0, finished_at = ?1
       WHERE destination_id = ?2 AND status = 'pending'`,
      now,
      destinationId,
    );
  }

  /**
   * Sends one delivery again now (whatever its state; a new retry horizon starts). Returns it, or
   * null when the destination has no such delivery.
   */
  retry(destinationId: string, deliveryId: string, now: number): { id: string; seq: number } | null {
    return (
      this.exec<{ id: string; seq: number }>(
        `UPDATE deliveries SET status = 'pending', next_attempt_at = ?1, first_attempt_at = NULL,
           lease_until = 0, finished_at = NULL
         WHERE id = ?2 AND destination_id = ?3 RETURNING id, seq`,
        now,
        deliveryId,
        destinationId,
      )[0] ?? null
    );
  }

  /**
   * Sends again, now, every entry recorded since `since` (ISO) that the destination's filter takes
   * and that has not been delivered to it: failed deliveries start over, and entries it never got
   * (it was disabled, or made later) get a delivery. Returns how many are now pending from this.
   */
  recover(destinationId: string, since: string, now: number): number {
    return this.storage.transactionSync(() => {
      const reset = this.exec(
        `UPDATE deliveries SET status = 'pending', next_attempt_at = ?1, first_attempt_at = NULL,
           lease_until = 0, finished_at = NULL
         WHERE destination_id = ?2 AND status = 'failed'
           AND seq IN (SELECT seq FROM change_events WHERE recorded_at >= ?3)
         RETURNING id`,
        now,
        destinationId,
        since,
      ).length;
      const added = this.exec(
        `INSERT INTO deliveries (id, destination_id, seq, event_id, status, attempts, next_attempt_at, lease_until, created_at)
         SELECT 'dlv_' || lower(hex(randomblob(12))), d.id, ev.seq, ev.event_id, 'pending', 0, ?1, 0, ?1
         FROM destinations d JOIN change_events ev ON ev.recorded_at >= ?3
         WHERE d.id = ?2
           AND EXISTS (SELECT 1 FROM json_each(d.events) t WHERE t.value = ev.type)
         ON CONFLICT (destination_id, seq) DO NOTHING
         RETURNING id`,
        now,
        destinationId,
        since,
      ).length;
      return reset + added;
    });
  }

  /**
   * Where each of the destination's deliveries among `ids` stands now (those it still has): the
   * log's status is as of each attempt, and disabling or a retry moves a delivery without one.
   */
  deliveryStates(destinationId: string, ids: readonly string[]): DeliveryState[] {
    if (ids.length === 0) return [];
    return this.exec<{ id: string; status: DeliveryStatus; next_attempt_at: number }>(
      `SELECT id, status, next_attempt_at FROM deliveries
       WHERE destination_id = ?1 AND id IN (SELECT value FROM json_each(?2))`,
      destinationId,
      JSON.stringify(ids),
    ).map((r) => ({
      id: r.id,
      status: r.status,
      nextAttemptAt: r.status === "pending" ? r.next_attempt_at : null,
    }));
  }

  /** The destination's attempts, newest first, older than attempt `before`, only those with `status`. */
  attempts(
    destinationId: string,
    page: { limit: number; before?: string | undefined; status?: DeliveryStatus | undefined },
  ): DeliveryAttemptRow[] {
    return this.db
      .select()
      .from(deliveryAttempts)
      .where(
        and(
          eq(deliveryAttempts.destinationId, destinationId),
          page.before ? lt(deliveryAttempts.id, page.before) : undefined,
          page.status ? eq(deliveryAttempts.status, page.status) : undefined,
        ),
      )
      .orderBy(desc(deliveryAttempts.id))
      .limit(page.limit)
      .all();
  }

  /**
   * Deletes at most `limit` log rows and finished deliveries older than `before` (epoch ms).
   * Returns how many rows it deleted.
   */
  prune(before: number, limit: number): number {
    return this.storage.transactionSync(
      () =>
        this.exec(
          `DELETE FROM delivery_attempts WHERE id IN
             (SELECT id FROM delivery_attempts WHERE attempted_at < ?1 LIMIT ?2) RETURNING id`,
          before,
          limit,
        ).length +
        this.exec(
          `DELETE FROM deliveries WHERE id IN
             (SELECT id FROM deliveries WHERE status != 'pending' AND finished_at < ?1 LIMIT ?2) RETURNING id`,
          before,
          limit,
        ).length,
    );
  }
}
