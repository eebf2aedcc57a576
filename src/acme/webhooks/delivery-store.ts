import { and, asc, eq, inArray, lte, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import { chunk, jsonList, jsonRows } from "../../lib/d1-limits.ts";
import {
  type WebhookDeliveryRow,
  type WebhookEventRow,
  type WebhookSubscriptionRow,
  webhookAttempts,
  webhookDeliveries,
  webhookEvents,
  webhookSubscriptions,
} from "../db/schema.ts";
import { extendLeases, finishIfDelivered, type LeaseExtension } from "./outbox.ts";

// The delivery consumer's D1 work, set-based: a batch's rows are read and written in a few
// statements that bind their ids as one JSON list each (jsonList), whatever the batch holds, instead
// of a few statements per message.

/** What one batch of delivery messages needs from D1 before any attempt. */
export interface LoadedBatch {
  /** The deliveries `deliver` messages asked for, by id. */
  deliveries: Map<string, WebhookDeliveryRow>;
  /** The events to fan out and those of the asked deliveries, by id. */
  events: Map<string, WebhookEventRow>;
  /**
   * The enabled subscriptions of the fanned-out events' accounts, and the subscriptions of the
   * asked deliveries (enabled or not), by id.
   */
  subscriptions: Map<string, WebhookSubscriptionRow>;
}

/** Reads what a batch needs: three statements in one round trip. */
export async function loadBatch(
  db: DrizzleD1Database,
  fanoutEventIds: readonly string[],
  deliveryIds: readonly string[],
): Promise<LoadedBatch> {
  const asked = jsonList(deliveryIds);
  const fannedOut = jsonList(fanoutEventIds);
  const askedDeliveries = (
    column: typeof webhookDeliveries.eventId | typeof webhookDeliveries.subscriptionId,
  ) => db.select({ id: column }).from(webhookDeliveries).where(inArray(webhookDeliveries.id, asked));
  const [deliveries, events, subscriptions] = await db.batch([
    db.select().from(webhookDeliveries).where(inArray(webhookDeliveries.id, asked)),
    db
      .select()
      .from(webhookEvents)
      .where(
        or(
          inArray(webhookEvents.id, fannedOut),
          inArray(webhookEvents.id, askedDeliveries(webhookDeliveries.eventId)),
        ),
      ),
    db
      .select()
      .from(webhookSubscriptions)
      .where(
        or(
          and(
            eq(webhookSubscriptions.enabled, true),
            inArray(
              webhookSubscriptions.accountId,
              db
                .select({ accountId: webhookEvents.accountId })
                .from(webhookEvents)
                .where(inArray(webhookEvents.id, fannedOut)),
            ),
          ),
          inArray(webhookSubscriptions.id, askedDeliveries(webhookDeliveries.subscriptionId)),
        ),
      ),
  ]);
  return {
    deliveries: new Map(deliveries.map((row) => [row.id, row])),
    events: new Map(events.map((row) => [row.id, row])),
    subscriptions: new Map(subscriptions.map((row) => [row.id, row])),
  };
}

/** A delivery the fan-out makes: one event to one subscription. */
export interface NewDelivery {
  id: string;
  eventId: string;
  subscriptionId: string;
  accountId: string;
}

/** New deliveries one INSERT carries (as one JSON parameter of about 150 bytes each). */
const DELIVERIES_PER_INSERT = 1000;

/** The deliveries due now of the fanned-out events, at most `limit` of them. */
export interface DueDeliveries {
  due: WebhookDeliveryRow[];
  /**
   * The first event (in id order) some of whose due deliveries may lie past `limit`, or null when
   * all were read; it and the events after it have work left for another invocation.
   */
  cutAt: string | null;
}

/**
 * One round trip for the fan-out: inserts `created` (deliveries already there are left as they
 * are: unique per event and subscription), reads the due deliveries of `eventIds` (never tried, or
 * retrying with their time come), at most `limit`, in event order, and finishes the events with no
 * open delivery (no subscriber, or every delivery ended). The read and the finish run after the
 * inserts in the same batch (one transaction), so they see them.
 */
export async function createAndReadDue(
  db: DrizzleD1Database,
  eventIds: readonly string[],
  created: readonly NewDelivery[],
  now: Date,
  limit: number,
): Promise<DueDeliveries> {
  const timestamp = now.toISOString();
  const inserts = chunk(created, DELIVERIES_PER_INSERT).map((run) =>
    db
      .insert(webhookDeliveries)
      // Every column in the table's order; "WHERE true" tells SQLite's parser the ON CONFLICT
      // belongs to the INSERT.
      .select(
        sql`SELECT d.id, d.eventId, d.subscriptionId, d.accountId, 'pending', 0, NULL, NULL, NULL, ${timestamp}, ${timestamp}
            FROM ${jsonRows(run, ["id", "eventId", "subscriptionId", "accountId"], "d")} WHERE true`,
      )
      .onConflictDoNothing(),
  );
  const dueQuery = db
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        inArray(webhookDeliveries.eventId, jsonList(eventIds)),
        or(
          eq(webhookDeliveries.status, "pending"),
          and(eq(webhookDeliveries.status, "retrying"), lte(webhookDeliveries.nextAttemptAt, timestamp)),
        ),
      ),
    )
    .orderBy(asc(webhookDeliveries.eventId), asc(webhookDeliveries.id))
    // One past the limit tells whether any was left.
    .limit(limit + 1);
  const [first, ...rest]: BatchItem<"sqlite">[] = [
    ...inserts,
    dueQuery,
    finishIfDelivered(db, eventIds, now),
  ];
  const results = first ? await db.batch([first, ...rest]) : [];
  const read = results[inserts.length] as WebhookDeliveryRow[];
  const past = read[limit];
  return { due: read.slice(0, limit), cutAt: past ? past.eventId : null };
}

/** One attempt of one delivery, as the delivery log keeps it. */
export interface AttemptRecord {
  kind: "attempt";
  /** The `webhook_attempts` row's id. */
  id: string;
  deliveryId: string;
  eventId: string;
  subscriptionId: string;
  /** Which attempt of the delivery this was (1 for the first). */
  attempt: number;
  /** The delivery's status after it. */
  status: "succeeded" | "failed" | "retrying";
  /** The receiver's answer; null when none came (timeout, no connection). */
  statusCode: number | null;
  /** Why it did not succeed; null when it did. */
  error: string | null;
  durationMs: number;
  /** When the delivery is retried (ISO); null when it ended. */
  nextAttemptAt: string | null;
  /** The receiver answered 410 Gone: its subscription is disabled. */
  gone: boolean;
  /** When it was made (ISO). */
  at: string;
}

/** A delivery ended without an attempt: skipped (subscription or event gone) or failed (URL refused). */
export interface ClosedRecord {
  kind: "closed";
  deliveryId: string;
  eventId: string;
  status: "skipped" | "failed";
  error: string;
  at: string;
}

/** What one delivery's turn in a batch leaves in the delivery log. */
export type DeliveryRecord = AttemptRecord | ClosedRecord;

/**
 * Writes `records` in one D1 batch of at most six statements however many they are: the attempts
 * logged, the deliveries updated, the subscriptions that answered 410 disabled, the events whose
 * deliveries all ended finished, and the leases of events waiting for a retry extended to the
 * retry's time plus `leaseMs`.
 */
export async function writeRecords(
  db: DrizzleD1Database,
  records: readonly DeliveryRecord[],
  leaseMs: number,
  now: Date,
): Promise<void> {
  const attempts = records.filter((r): r is AttemptRecord => r.kind === "attempt");
  const closed = records.filter((r): r is ClosedRecord => r.kind === "closed");
  const statements: BatchItem<"sqlite">[] = [];
  if (attempts.length > 0) {
    const fields = [
      "id",
      "deliveryId",
      "attempt",
      "status",
      "statusCode",
      "error",
      "durationMs",
      "nextAttemptAt",
      "at",
    ] as const;
    statements.push(
      db
        .insert(webhookAttempts)
        // Every column in the table's order.
        .select(
          sql`SELECT a.id, a.deliveryId, a.attempt, a.statusCode, a.error, a.durationMs, a.at
              FROM ${jsonRows(attempts, [...fields], "a")}`,
        ),
      db
        .update(webhookDeliveries)
        .set({
          attempts: sql`a.attempt`,
          status: sql`a.status`,
          lastStatusCode: sql`a.statusCode`,
          lastError: sql`a.error`,
          nextAttemptAt: sql`a.nextAttemptAt`,
          updatedAt: sql`a.at`,
        })
        .from(jsonRows(attempts, [...fields], "a"))
        .where(eq(webhookDeliveries.id, sql`a.deliveryId`)),
    );
  }
  if (closed.length > 0) {
    statements.push(
      db
        .update(webhookDeliveries)
        .set({ status: sql`c.status`, lastError: sql`c.error`, updatedAt: sql`c.at` })
        .from(jsonRows(closed, ["deliveryId", "status", "error", "at"], "c"))
        .where(eq(webhookDeliveries.id, sql`c.deliveryId`)),
    );
  }
  const gone = attempts.filter((a) => a.gone);
  if (gone.length > 0) {
    statements.push(
      db
        .update(webhookSubscriptions)
        .set({
          enabled: false,
          disabledReason: "the endpoint answered 410 Gone",
          updatedAt: now.toISOString(),
        })
        .where(inArray(webhookSubscriptions.id, jsonList(gone.map((a) => a.subscriptionId)))),
    );
  }
  // An ended delivery (closed, or an attempt with no retry) may have been its event's last.
  const ended = new Set(
    records.filter((r) => r.kind === "closed" || r.nextAttemptAt === null).map((r) => r.eventId),
  );
  if (ended.size > 0) statements.push(finishIfDelivered(db, [...ended], now));
  const leases = new Map<string, string>();
  for (const { eventId, nextAttemptAt } of attempts) {
    if (nextAttemptAt === null) continue;
    const until = new Date(Date.parse(nextAttemptAt) + leaseMs).toISOString();
    if (until > (leases.get(eventId) ?? "")) leases.set(eventId, until);
  }
  if (leases.size > 0) {
    statements.push(
      extendLeases(
        db,
        [...leases].map(([eventId, until]): LeaseExtension => ({ eventId, until })),
      ),
    );
  }
  const [first, ...rest] = statements;
  if (first) await db.batch([first, ...rest]);
}
