import { and, inArray, isNull, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { newId } from "../../lib/ids.ts";
import { errorFields, log } from "../../lib/logger.ts";
import type { AcmeContact } from "../contacts/schemas.ts";
import { type WebhookEventRow, type WebhookEventType, webhookEvents } from "../db/schema.ts";
import type { DeliveryMessage } from "./messages.ts";

/** The outbox row for a contact change; written in the same D1 batch as the change itself. */
export function outboxEvent(
  accountId: string,
  type: WebhookEventType,
  contact: AcmeContact,
  previous: AcmeContact | null,
  now: Date,
): WebhookEventRow {
  const timestamp = now.toISOString();
  const body = { type, timestamp, data: contact, ...(previous ? { previous } : {}) };
  return {
    id: newId("msg", now.getTime()),
    accountId,
    type,
    contactId: contact.id,
    payload: JSON.stringify(body),
    createdAt: timestamp,
    enqueuedAt: null,
  };
}

async function markEnqueued(env: Env, ids: string[], now: Date): Promise<void> {
  await drizzle(env.ACME_DB)
    .update(webhookEvents)
    .set({ enqueuedAt: now.toISOString() })
    .where(inArray(webhookEvents.id, ids));
}

/**
 * Puts committed events on the deliveries queue. A failure here loses nothing: the rows stay
 * unmarked and the cron sweep sends them later.
 */
export async function publishEvents(env: Env, ids: string[], now = new Date()): Promise<void> {
  if (ids.length === 0) return;
  try {
    await env.ACME_WEBHOOK_QUEUE.sendBatch(
      ids.map((eventId) => ({ body: { kind: "fanout", eventId } satisfies DeliveryMessage })),
    );
    await markEnqueued(env, ids, now);
  } catch (error) {
    log("warn", "webhook events not enqueued; the outbox sweep will retry", {
      events: ids,
      ...errorFields(error),
    });
  }
}

/** Cron: re-sends outbox rows older than `graceMs` that never reached the queue. */
export async function sweepOutbox(
  env: Env,
  now = new Date(),
  graceMs = 30_000,
  batchSize = 100,
): Promise<number> {
  const cutoff = new Date(now.getTime() - graceMs).toISOString();
  const pending = await drizzle(env.ACME_DB)
    .select({ id: webhookEvents.id })
    .from(webhookEvents)
    .where(and(isNull(webhookEvents.enqueuedAt), lt(webhookEvents.createdAt, cutoff)))
    .orderBy(webhookEvents.createdAt)
    .limit(batchSize);
  await publishEvents(
    env,
    pending.map((row) => row.id),
    now,
  );
  return pending.length;
}
