import { and, eq, lte, or } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { parseRetryAfter } from "../../lib/backoff.ts";
import { chunkForStatement } from "../../lib/d1-limits.ts";
import { newId } from "../../lib/ids.ts";
import { errorFields, log } from "../../lib/logger.ts";
import { sendAll } from "../../lib/queue-limits.ts";
import { type AcmeConfig, loadAcmeConfig } from "../config.ts";
import {
  ENDED_DELIVERY_STATUSES,
  type WebhookDeliveryRow,
  type WebhookEventRow,
  type WebhookEventType,
  type WebhookSubscriptionRow,
  webhookAttempts,
  webhookDeliveries,
  webhookEvents,
  webhookSubscriptions,
} from "../db/schema.ts";
import { type DeliveryMessage, DeliveryMessageSchema, type DeliveryQueue } from "./messages.ts";
import { extendLease, finishIfDelivered, outboxLeaseMs } from "./outbox.ts";
import { signedHeaders } from "./signing.ts";
import { signingSecret } from "./subscriptions.ts";
import { webhookUrlProblem } from "./url-policy.ts";

/** What the consumer reaches outside itself; tests pass their own receiver, clock and queue. */
export interface DeliveryDeps {
  fetch: (input: string, init: RequestInit) => Promise<Response>;
  now: () => Date;
  random: () => number;
  queue: DeliveryQueue;
}

/** Values one `webhook_deliveries` row binds in a multi-row INSERT (its 8 columns given). */
const DELIVERY_INSERT_PARAMETERS = 8;

function resolveDeps(env: Env, deps: Partial<DeliveryDeps>): DeliveryDeps {
  return {
    fetch: deps.fetch ?? ((input, init) => fetch(input, init)),
    now: deps.now ?? (() => new Date()),
    random: deps.random ?? Math.random,
    queue: deps.queue ?? env.ACME_WEBHOOK_QUEUE,
  };
}

/** Redelivery delays grow 2 s, 4 s, 8 s ... up to 10 min, with "equal jitter" so they always grow. */
export function redeliveryDelaySeconds(
  attempt: number,
  retryAfterMs: number | null,
  random: () => number,
): number {
  const ceiling = Math.min(600, 2 * 2 ** Math.max(0, attempt - 1));
  const jittered = ceiling / 2 + random() * (ceiling / 2);
  return Math.min(43_200, Math.max(1, Math.ceil(jittered), Math.ceil((retryAfterMs ?? 0) / 1000)));
}

type Outcome = { kind: "done" } | { kind: "retry"; delaySeconds: number };

/** A delivery with what its attempt needs: its subscription (null: deleted) and its event (null: gone). */
interface DeliveryAttempt {
  delivery: WebhookDeliveryRow;
  subscription: WebhookSubscriptionRow | null;
  event: WebhookEventRow | null;
}

/**
 * Creates one delivery per matching subscription (enabled, of the event's account, wanting its
 * type, created no later than the event) and makes each due attempt right away (one queue hop
 * from change to receiver); only retries go back on the queue, with their delay. Due: never tried,
 * or a retry whose time has come (its queue message was lost, so the outbox handed the event
 * again). Safe to run twice: deliveries are unique per event and subscription. With nothing to
 * attempt (no subscriber, or every delivery ended), it finishes the event.
 *
 * Two round trips to D1 before the attempts: the event with its account's subscriptions, then one
 * batch that inserts the deliveries and reads back those due; the attempts use these rows as they
 * are instead of reading each delivery again.
 */
async function fanOut(env: Env, config: AcmeConfig, eventId: string, deps: DeliveryDeps): Promise<void> {
  const db = drizzle(env.ACME_DB);
  const candidates = await db
    .select({ event: webhookEvents, subscription: webhookSubscriptions })
    .from(webhookEvents)
    .leftJoin(
      webhookSubscriptions,
      and(
        eq(webhookSubscriptions.accountId, webhookEvents.accountId),
        eq(webhookSubscriptions.enabled, true),
        lte(webhookSubscriptions.createdAt, webhookEvents.createdAt),
      ),
    )
    .where(eq(webhookEvents.id, eventId));
  const event = candidates[0]?.event;
  if (!event) {
    log("warn", "webhook event to fan out does not exist", { eventId });
    return;
  }
  if (event.finishedAt) return;
  const matching = candidates.flatMap(({ subscription }) =>
    subscription && (JSON.parse(subscription.events) as WebhookEventType[]).includes(event.type)
      ? [subscription]
      : [],
  );
  const now = deps.now();
  const timestamp = now.toISOString();
  const rows = matching.map((s) => ({
    id: newId("dlv"),
    eventId,
    subscriptionId: s.id,
    accountId: event.accountId,
    status: "pending" as const,
    attempts: 0,
    createdAt: timestamp,
    updatedAt: timestamp,
  }));
  const inserts = chunkForStatement(rows, { perItem: DELIVERY_INSERT_PARAMETERS }).map((run) =>
    db.insert(webhookDeliveries).values(run).onConflictDoNothing(),
  );
  const dueQuery = db
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.eventId, eventId),
        or(
          eq(webhookDeliveries.status, "pending"),
          and(eq(webhookDeliveries.status, "retrying"), lte(webhookDeliveries.nextAttemptAt, timestamp)),
        ),
      ),
    );
  // The read runs after the inserts in the same batch (one transaction), so it sees them. It reads
  // one table: drizzle maps a batch's rows by column name, which a join would make ambiguous.
  const [firstInsert, ...moreInserts] = inserts;
  const due = firstInsert
    ? ((await db.batch([firstInsert, ...moreInserts, dueQuery])).at(-1) as WebhookDeliveryRow[])
    : await dueQuery;
  // A due delivery whose subscription is not among these was disabled or deleted: it is skipped.
  const subscriptions = new Map(
    candidates.flatMap(({ subscription }) =>
      subscription ? [[subscription.id, subscription] as const] : [],
    ),
  );
  const retries: MessageSendRequest<DeliveryMessage>[] = [];
  await Promise.all(
    due.map(async (delivery) => {
      const subscription = subscriptions.get(delivery.subscriptionId) ?? null;
      const outcome = await attempt(env, config, { delivery, subscription, event }, deps);
      if (outcome.kind === "retry") {
        retries.push({
          body: { kind: "deliver", deliveryId: delivery.id },
          delaySeconds: outcome.delaySeconds,
        });
      }
    }),
  );
  await sendAll(deps.queue, retries);
  // An attempt that ended already ran the finishing statement in its own batch.
  if (due.length === 0) await finishIfDelivered(db, eventId, deps.now());
}

/** A retry from the queue: reads the delivery with its subscription and event, then attempts it. */
async function deliver(
  env: Env,
  config: AcmeConfig,
  deliveryId: string,
  deps: DeliveryDeps,
): Promise<Outcome> {
  // One read for the delivery, its subscription and its event: D1 queries per invocation are counted.
  const found = await drizzle(env.ACME_DB)
    .select({ delivery: webhookDeliveries, subscription: webhookSubscriptions, event: webhookEvents })
    .from(webhookDeliveries)
    .leftJoin(webhookSubscriptions, eq(webhookSubscriptions.id, webhookDeliveries.subscriptionId))
    .leftJoin(webhookEvents, eq(webhookEvents.id, webhookDeliveries.eventId))
    .where(eq(webhookDeliveries.id, deliveryId))
    .get();
  return found ? attempt(env, config, found, deps) : { kind: "done" };
}

/** One signed POST of one event to one subscription, recorded in the delivery log (one D1 batch). */
async function attempt(
  env: Env,
  config: AcmeConfig,
  { delivery, subscription, event }: DeliveryAttempt,
  deps: DeliveryDeps,
): Promise<Outcome> {
  if ((ENDED_DELIVERY_STATUSES as readonly string[]).includes(delivery.status)) return { kind: "done" };
  const db = drizzle(env.ACME_DB);
  const deliveryId = delivery.id;
  const now = deps.now();
  if (!subscription?.enabled || !event) {
    await db.batch([
      db
        .update(webhookDeliveries)
        .set({
          status: "skipped",
          lastError: "subscription deleted or disabled",
          updatedAt: now.toISOString(),
        })
        .where(eq(webhookDeliveries.id, deliveryId)),
      finishIfDelivered(db, delivery.eventId, now),
    ]);
    return { kind: "done" };
  }

  // Checked again at send time: the subscription may predate the policy, or the deployment's
  // loopback allowance may since have been withdrawn.
  const urlProblem = webhookUrlProblem(subscription.url, { allowLoopback: config.webhookAllowLoopback });
  if (urlProblem !== null) {
    await db
      .update(webhookDeliveries)
      .set({ status: "failed", lastError: `URL not allowed: ${urlProblem}`, updatedAt: now.toISOString() })
      .where(eq(webhookDeliveries.id, deliveryId));
    return { kind: "done" };
  }

  const headers = {
    ...signedHeaders(await signingSecret(config, subscription), event.id, event.payload, now),
    "content-type": "application/json",
    "user-agent": "Acme-Webhooks/1.0",
  };
  const started = Date.now();
  let status: number | null = null;
  let error: string | null = null;
  let retryAfterMs: number | null = null;
  try {
    const response = await deps.fetch(subscription.url, {
      method: "POST",
      headers,
      body: event.payload,
      redirect: "manual",
      signal: AbortSignal.timeout(config.webhookTimeoutMs),
    });
    status = response.status;
    retryAfterMs = parseRetryAfter(response.headers.get("retry-after"), now.getTime());
    await response.body?.cancel();
  } catch (cause) {
    error = cause instanceof Error && cause.name === "TimeoutError" ? "timed out" : "could not connect";
  }
  const attempt = delivery.attempts + 1;
  const ok = status !== null && status >= 200 && status < 300;
  const gone = status === 410;
  const delaySeconds = redeliveryDelaySeconds(attempt, retryAfterMs, deps.random);
  const nextAttemptAt = ok || gone ? null : new Date(now.getTime() + delaySeconds * 1000).toISOString();
  const timestamp = new Date().toISOString();
  await db.batch([
    db.insert(webhookAttempts).values({
      id: newId("att"),
      deliveryId,
      attempt,
      statusCode: status,
      error: error ?? (ok ? null : `endpoint answered ${status}`),
      durationMs: Date.now() - started,
      createdAt: timestamp,
    }),
    db
      .update(webhookDeliveries)
      .set({
        attempts: attempt,
        status: ok ? "succeeded" : gone ? "failed" : "retrying",
        lastStatusCode: status,
        lastError: ok ? null : (error ?? `endpoint answered ${status}`),
        nextAttemptAt,
        updatedAt: timestamp,
      })
      .where(eq(webhookDeliveries.id, deliveryId)),
    ...(gone
      ? [
          db
            .update(webhookSubscriptions)
            .set({ enabled: false, disabledReason: "the endpoint answered 410 Gone", updatedAt: timestamp })
            .where(eq(webhookSubscriptions.id, subscription.id)),
        ]
      : []),
    // Ended: the event may be finished. Retrying: its lease covers the retry and a lease beyond.
    nextAttemptAt === null
      ? finishIfDelivered(db, event.id, now)
      : extendLease(db, event.id, new Date(Date.parse(nextAttemptAt) + outboxLeaseMs(config)).toISOString()),
  ]);
  return ok || gone ? { kind: "done" } : { kind: "retry", delaySeconds };
}

/** Consumer of `acme-webhook-deliveries`: each message is acked or retried on its own. */
export async function handleDeliveryBatch(
  batch: MessageBatch<unknown>,
  env: Env,
  overrides: Partial<DeliveryDeps> = {},
): Promise<void> {
  const config = loadAcmeConfig(env);
  const deps = resolveDeps(env, overrides);
  // Messages are independent (each is one event or one delivery): handle them side by side, so a
  // slow receiver does not hold up the rest of the batch.
  await Promise.all(batch.messages.map((message) => handleDeliveryMessage(message, env, config, deps)));
}

async function handleDeliveryMessage(
  message: Message<unknown>,
  env: Env,
  config: AcmeConfig,
  deps: DeliveryDeps,
): Promise<void> {
  const parsed = DeliveryMessageSchema.safeParse(message.body);
  if (!parsed.success) {
    log("error", "unreadable webhook delivery message dropped", { messageId: message.id });
    message.ack();
    return;
  }
  try {
    if (parsed.data.kind === "fanout") {
      await fanOut(env, config, parsed.data.eventId, deps);
      message.ack();
      return;
    }
    const outcome = await deliver(env, config, parsed.data.deliveryId, deps);
    if (outcome.kind === "done") message.ack();
    else message.retry({ delaySeconds: outcome.delaySeconds });
  } catch (error) {
    log("error", "webhook delivery step failed", { message: parsed.data, ...errorFields(error) });
    message.retry({ delaySeconds: redeliveryDelaySeconds(message.attempts, null, deps.random) });
  }
}

/**
 * Consumer of the dead-letter queue: exhausted deliveries are marked dead in the delivery log, and
 * their event finishes if that was its last open delivery. An exhausted fan-out leaves its event
 * unfinished: the outbox sweep hands it again when its lease runs out.
 */
export async function handleDeadDeliveries(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = drizzle(env.ACME_DB);
  for (const message of batch.messages) {
    const parsed = DeliveryMessageSchema.safeParse(message.body);
    if (parsed.success && parsed.data.kind === "deliver") {
      const now = new Date();
      const delivery = await db
        .select({ eventId: webhookDeliveries.eventId })
        .from(webhookDeliveries)
        .where(eq(webhookDeliveries.id, parsed.data.deliveryId))
        .get();
      if (delivery) {
        await db.batch([
          db
            .update(webhookDeliveries)
            .set({ status: "dead", nextAttemptAt: null, updatedAt: now.toISOString() })
            .where(eq(webhookDeliveries.id, parsed.data.deliveryId)),
          finishIfDelivered(db, delivery.eventId, now),
        ]);
      }
    } else {
      log("error", "webhook message exhausted its retries", { body: message.body });
    }
    message.ack();
  }
}
