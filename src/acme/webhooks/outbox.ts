import { and, asc, eq, inArray, isNull, lte, notExists, notInArray, sql } from "drizzle-orm";
import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import { chunk, chunkForStatement, jsonList, jsonRows } from "../../lib/d1-limits.ts";
import { newId } from "../../lib/ids.ts";
import { errorFields, log } from "../../lib/logger.ts";
import { QUEUE_MAX_BATCH_MESSAGES } from "../../lib/queue-limits.ts";
import { type AcmeConfig, loadAcmeConfig } from "../config.ts";
import type { AcmeContact } from "../contacts/schemas.ts";
import {
  ENDED_DELIVERY_STATUSES,
  type WebhookEventRow,
  type WebhookEventType,
  webhookDeliveries,
  webhookEvents,
} from "../db/schema.ts";
import type { DeliveryMessage, DeliveryQueue } from "./messages.ts";
import type { WebhookEventPayload } from "./payload-schema.ts";

/**
 * How long one hand-off to the deliveries queue has to finish its event before the cron sweep
 * hands it again (ms); `ACME_OUTBOX_LEASE_MS` overrides it (see {@link outboxLeaseMs}). Far above a fan-out's first attempts (`ACME_WEBHOOK_TIMEOUT_MS`, 10 s by
 * default) plus the queue's batching, so a live hand-off is rarely doubled; a delivery waiting for
 * a retry extends it (see {@link extendLeases}). A doubled hand-off is harmless: deliveries are
 * unique per event and subscription, and receivers dedupe by `webhook-id`.
 */
export const OUTBOX_LEASE_MS = 5 * 60_000;

/** The lease this deployment uses: `ACME_OUTBOX_LEASE_MS` if set, else {@link OUTBOX_LEASE_MS}. */
export function outboxLeaseMs(config: AcmeConfig): number {
  return config.outboxLeaseMs ?? OUTBOX_LEASE_MS;
}

/** How long a new event is left to the request that wrote it before the sweep hands it (ms). */
export const OUTBOX_FIRST_HAND_OFF_MS = 30_000;

/** The most events one sweep hands, so a backlog cannot take the cron invocation's D1 query budget. */
export const OUTBOX_SWEEP_LIMIT = 500;

/** The outbox row for a contact change; written in the same D1 batch as the change itself. */
export function outboxEvent(
  accountId: string,
  type: WebhookEventType,
  contact: AcmeContact,
  previous: AcmeContact | null,
  now: Date,
): WebhookEventRow {
  const timestamp = now.toISOString();
  const body: WebhookEventPayload = { type, timestamp, data: contact, ...(previous ? { previous } : {}) };
  return {
    id: newId("msg", now.getTime()),
    accountId,
    type,
    contactId: contact.id,
    payload: JSON.stringify(body),
    createdAt: timestamp,
    enqueuedAt: null,
    leaseUntil: new Date(now.getTime() + OUTBOX_FIRST_HAND_OFF_MS).toISOString(),
    finishedAt: null,
  };
}

/**
 * The statement that marks each of `eventIds` finished if every delivery it has ended (see
 * `ENDED_DELIVERY_STATUSES`); one with no deliveries (no matching subscription) finishes at once.
 * Run it after the fan-out made the deliveries and whenever some of them end. One statement for
 * any number of events (their ids bound as one JSON list).
 */
export function finishIfDelivered(db: DrizzleD1Database, eventIds: readonly string[], now: Date) {
  return db
    .update(webhookEvents)
    .set({ finishedAt: now.toISOString() })
    .where(
      and(
        inArray(webhookEvents.id, jsonList(eventIds)),
        isNull(webhookEvents.finishedAt),
        notExists(
          db
            .select({ id: webhookDeliveries.id })
            .from(webhookDeliveries)
            .where(
              and(
                eq(webhookDeliveries.eventId, webhookEvents.id),
                notInArray(webhookDeliveries.status, [...ENDED_DELIVERY_STATUSES]),
              ),
            ),
        ),
      ),
    );
}

/** An unfinished event's lease to keep until at least `until` (ISO). */
export interface LeaseExtension {
  eventId: string;
  until: string;
}

/**
 * The statement that keeps each unfinished event's lease until at least its `until`, so a
 * delivery waiting for its retry is not handed again before that retry had its chance. One
 * statement for any number of events; give each event once (the latest `until` of its deliveries).
 */
export function extendLeases(db: DrizzleD1Database, leases: readonly LeaseExtension[]) {
  return db
    .update(webhookEvents)
    .set({ leaseUntil: sql`MAX(${webhookEvents.leaseUntil}, lease.until)` })
    .from(jsonRows(leases, ["eventId", "until"], "lease"))
    .where(and(eq(webhookEvents.id, sql`lease.eventId`), isNull(webhookEvents.finishedAt)));
}

/** Options of {@link publishEvents} and {@link sweepOutbox}; tests pass a recording queue. */
export interface HandOffOptions {
  queue?: DeliveryQueue;
  /** The lease each hand-off takes (ms); the deployment's {@link outboxLeaseMs} unless given. */
  leaseMs?: number;
}

/**
 * Hands events to the deliveries queue and takes their lease: until `now + leaseMs` the sweep
 * leaves them to this hand-off. Runs of 100 (the queue's batch limit), each marked after it was
 * sent. A failure loses nothing: the events keep their old lease and the sweep hands them when it
 * runs out. Returns how many were handed.
 */
export async function publishEvents(
  env: Env,
  ids: string[],
  now = new Date(),
  options: HandOffOptions = {},
): Promise<number> {
  const queue = options.queue ?? env.ACME_WEBHOOK_QUEUE;
  const leaseMs = options.leaseMs ?? outboxLeaseMs(loadAcmeConfig(env));
  const leaseUntil = new Date(now.getTime() + leaseMs).toISOString();
  const db = drizzle(env.ACME_DB);
  let handed = 0;
  for (const run of chunk(ids, QUEUE_MAX_BATCH_MESSAGES)) {
    try {
      await queue.sendBatch(
        run.map((eventId) => ({ body: { kind: "fanout", eventId } satisfies DeliveryMessage })),
      );
      handed += run.length;
      // Two values besides the ids: enqueued_at and lease_until.
      for (const marked of chunkForStatement(run, { perItem: 1, fixed: 2 })) {
        await db
          .update(webhookEvents)
          .set({ enqueuedAt: now.toISOString(), leaseUntil })
          .where(and(inArray(webhookEvents.id, marked), isNull(webhookEvents.finishedAt)));
      }
    } catch (error) {
      log("warn", "webhook events not handed to the queue; the outbox sweep will retry", {
        events: run,
        ...errorFields(error),
      });
    }
  }
  return handed;
}

/**
 * Cron: hands again every unfinished event whose lease ran out by `now`: never handed (the write
 * path's hand-off failed) or handed without finishing (a lost or exhausted fan-out message, a lost
 * retry). At most `limit`, oldest lease first. Returns how many were handed.
 */
export async function sweepOutbox(
  env: Env,
  now = new Date(),
  options: HandOffOptions & { limit?: number } = {},
): Promise<number> {
  const due = await drizzle(env.ACME_DB)
    .select({ id: webhookEvents.id })
    .from(webhookEvents)
    .where(and(isNull(webhookEvents.finishedAt), lte(webhookEvents.leaseUntil, now.toISOString())))
    .orderBy(asc(webhookEvents.leaseUntil))
    .limit(options.limit ?? OUTBOX_SWEEP_LIMIT);
  if (due.length === 0) return 0;
  const handed = await publishEvents(
    env,
    due.map((row) => row.id),
    now,
    options,
  );
  log("info", "outbox sweep handed events again", { due: due.length, handed });
  return handed;
}
