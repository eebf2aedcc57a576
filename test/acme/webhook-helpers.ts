import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { drizzle } from "drizzle-orm/d1";
import { expect } from "vitest";
import type { AcmeContact } from "../../src/acme/contacts/schemas.ts";
import { type WebhookEventRow, webhookEvents } from "../../src/acme/db/schema.ts";
import { type DeliveryDeps, handleDeliveryBatch } from "../../src/acme/webhooks/delivery-consumer.ts";
import type { DeliveryMessage, DeliveryQueue } from "../../src/acme/webhooks/messages.ts";
import { outboxEvent } from "../../src/acme/webhooks/outbox.ts";
import { chunkForStatement } from "../../src/lib/d1-limits.ts";
import { acme, uniqueEmail } from "./helpers.ts";

export const RECEIVER = "https://receiver.example.com/hooks/acme";

/** Subscribes the token's account to every event type at {@link RECEIVER}; `body` overrides. */
export async function subscribe(token: string, body: Record<string, unknown> = {}) {
  const res = await acme("/v1/webhooks", {
    token,
    method: "POST",
    body: { url: RECEIVER, events: ["contact.created", "contact.updated", "contact.deleted"], ...body },
  });
  expect(res.status).toBe(201);
  return res.json<{ id: string; secret: string; url: string; events: string[]; enabled: boolean }>();
}

function contactFor(): AcmeContact {
  return {
    id: `ct_${crypto.randomUUID().replace(/-/g, "").slice(0, 26)}`,
    acme_first_name: "Ada",
    acme_last_name: "Lovelace",
    acme_email: uniqueEmail(),
    acme_phone: null,
    acme_company: null,
    acme_title: null,
    acme_notes: null,
    acme_custom: {},
    acme_version: 1,
    acme_created_at: new Date().toISOString(),
    acme_updated_at: new Date().toISOString(),
    acme_deleted_at: null,
  };
}

/** An event stored in the outbox but not published, so only the test's consumer calls see it. */
export async function storedEvent(
  accountId: string,
  type: "contact.created" | "contact.updated" = "contact.created",
): Promise<WebhookEventRow> {
  const [event] = await storedEvents(accountId, 1, { type });
  if (!event) throw new Error("no event stored");
  return event;
}

/**
 * `count` events stored in the outbox, not published, in multi-row INSERTs that stay within D1's
 * parameter limit; `leaseUntil(i)` sets the i-th event's lease (default: the write path's own).
 */
export async function storedEvents(
  accountId: string,
  count: number,
  options: { type?: "contact.created" | "contact.updated"; leaseUntil?: (i: number) => string } = {},
): Promise<WebhookEventRow[]> {
  const events = Array.from({ length: count }, (_, i) => {
    const event = outboxEvent(accountId, options.type ?? "contact.created", contactFor(), null, new Date());
    return options.leaseUntil ? { ...event, leaseUntil: options.leaseUntil(i) } : event;
  });
  const columns = Object.keys(events[0] ?? {}).length;
  for (const run of chunkForStatement(events, { perItem: columns })) {
    await drizzle(env.ACME_DB).insert(webhookEvents).values(run);
  }
  return events;
}

/** A queue that records what is sent to it (and the size of each `sendBatch`) and delivers nothing. */
export function recordingQueue() {
  const sent: DeliveryMessage[] = [];
  const delays: (number | undefined)[] = [];
  const batchSizes: number[] = [];
  const queue: DeliveryQueue = {
    sendBatch: async (messages: Iterable<MessageSendRequest<DeliveryMessage>>) => {
      const batch = [...messages];
      batchSizes.push(batch.length);
      for (const m of batch) {
        sent.push(m.body);
        delays.push(m.delaySeconds);
      }
    },
  };
  return {
    sent,
    delays,
    batchSizes,
    queue,
    /** The event ids of the fan-out messages sent. */
    fanouts: () => sent.flatMap((m) => (m.kind === "fanout" ? [m.eventId] : [])),
  };
}

/** Runs the delivery consumer over one batch of messages and returns what it acked and retried. */
export async function runBatch(
  messages: { body: DeliveryMessage; attempts?: number }[],
  deps: Partial<DeliveryDeps>,
) {
  const batch = createMessageBatch<unknown>(
    "acme-webhook-deliveries",
    messages.map((m, i) => ({
      id: `m${i}-${crypto.randomUUID()}`,
      timestamp: new Date(),
      attempts: m.attempts ?? 1,
      body: m.body,
    })),
  );
  const ctx = createExecutionContext();
  await handleDeliveryBatch(batch, env, deps);
  return getQueueResult(batch, ctx);
}

export interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A receiver answering `statuses` in turn (then 200), recording every request it gets. */
export function receiver(statuses: (number | "timeout")[], extraHeaders: Record<string, string> = {}) {
  const received: Received[] = [];
  const fetch: DeliveryDeps["fetch"] = async (url, init) => {
    received.push({ url, headers: init.headers as Record<string, string>, body: init.body as string });
    const next = statuses.shift() ?? 200;
    if (next === "timeout") throw new DOMException("The operation timed out", "TimeoutError");
    return new Response(null, { status: next, headers: extraHeaders });
  };
  return { received, fetch };
}
