import { eq } from "drizzle-orm";
import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import { ConcurrencyLimit } from "../../lib/concurrency-limit.ts";
import { chunk } from "../../lib/d1-limits.ts";
import { newId } from "../../lib/ids.ts";
import { errorFields, log } from "../../lib/logger.ts";
import { QUEUE_MAX_BATCH_MESSAGES, QUEUE_MAX_DELAY_SECONDS } from "../../lib/queue-limits.ts";
import {
  ACME_WEBHOOK_SCHEDULE,
  classifyAnswer,
  postSigned,
  retryDelayMs,
} from "../../lib/webhook-delivery.ts";
import { webhookUrlProblem } from "../../lib/webhook-url-policy.ts";
import { WORKER_MAX_OPEN_CONNECTIONS } from "../../lib/worker-limits.ts";
import { type AcmeConfig, loadAcmeConfig } from "../config.ts";
import {
  ENDED_DELIVERY_STATUSES,
  type WebhookDeliveryRow,
  type WebhookEventRow,
  type WebhookEventType,
  type WebhookSubscriptionRow,
  webhookDeliveries,
} from "../db/schema.ts";
import {
  type AttemptRecord,
  type ClosedRecord,
  createAndReadDue,
  type DeliveryRecord,
  type LoadedBatch,
  loadBatch,
  type NewDelivery,
  writeRecords,
} from "./delivery-store.ts";
import { type DeliveryMessage, DeliveryMessageSchema, type DeliveryQueue } from "./messages.ts";
import { finishIfDelivered, outboxLeaseMs } from "./outbox.ts";
import { signingSecret } from "./subscriptions.ts";

/** What the consumer reaches outside itself; tests pass their own receiver, clock and queue. */
export interface DeliveryDeps {
  fetch: (input: string, init: RequestInit) => Promise<Response>;
  now: () => Date;
  random: () => number;
  queue: DeliveryQueue;
  /**
   * A signal that aborts `ms` from now with a TimeoutError. Called as each attempt's fetch
   * starts, so an attempt waiting for a connection does not spend its own timeout waiting.
   */
  timeout: (ms: number) => AbortSignal;
}

/**
 * Receivers one invocation waits on at once: Workers holds at most six connections waiting for
 * response headers and queues the rest, their timeouts already running; here the seventh waits
 * for a slot before its fetch (and its timeout) starts.
 */
export const DELIVERY_CONCURRENCY = WORKER_MAX_OPEN_CONNECTIONS;

/**
 * Attempts one invocation starts at most: a full batch of 100 events to 3 subscriptions each, in
 * about a third of the 1,000 subrequests an invocation may make (the rest: a few D1 round trips
 * and queue sends). Due deliveries beyond it are left for another invocation (see
 * {@link handleDeliveryBatch}).
 */
export const DELIVERY_ATTEMPTS_PER_BATCH = 300;

/**
 * How long after it began a batch still starts attempts (ms). Six at a time, 300 healthy
 * receivers (well under a second each) fit; slow ones would hold the batch for minutes (300
 * timeouts of 10 s are 500 s), past the outbox lease, so what has not started by then is left for
 * another invocation. A batch thus ends within this plus one attempt's timeout
 * (ACME_WEBHOOK_TIMEOUT_MS, 10 s by default) plus its D1 writes: far inside the outbox lease
 * (5 min) and a consumer invocation's 15 minutes.
 */
export const DELIVERY_START_DEADLINE_MS = 30_000;

/** Outcomes written to the delivery log together while a batch goes on (one D1 batch each). */
const RECORDS_PER_WRITE = 50;

function resolveDeps(env: Env, deps: Partial<DeliveryDeps>): DeliveryDeps {
  return {
    fetch: deps.fetch ?? ((input, init) => fetch(input, init)),
    now: deps.now ?? (() => new Date()),
    random: deps.random ?? Math.random,
    queue: deps.queue ?? env.ACME_WEBHOOK_QUEUE,
    timeout: deps.timeout ?? ((ms) => AbortSignal.timeout(ms)),
  };
}

/**
 * The queue's delay (whole seconds) before retry number `attempts` + 1: Acme's schedule
 * (ACME_WEBHOOK_SCHEDULE), a `Retry-After` honoured up to the longest delay a queue takes.
 */
function redeliveryDelaySeconds(attempts: number, retryAfterMs: number | null, random: () => number): number {
  const delayMs = retryDelayMs(ACME_WEBHOOK_SCHEDULE, attempts, retryAfterMs, random);
  return Math.min(QUEUE_MAX_DELAY_SECONDS, Math.ceil(delayMs / 1000));
}

type ParsedMessage = { message: Message<unknown>; body: DeliveryMessage };

/** One delivery to take its turn in this batch, with what its attempt needs. */
interface Turn {
  delivery: WebhookDeliveryRow;
  /** Null: deleted, or (for a fan-out) no longer one the event goes to. */
  subscription: WebhookSubscriptionRow | null;
  /** Null: gone. */
  event: WebhookEventRow | null;
  /** The `deliver` messages that asked for it (none: it came from a fan-out). */
  messages: Message<unknown>[];
}

/** How a turn ended, once its record was written (or not). */
type TurnResult =
  | { kind: "done" }
  | { kind: "retry"; delaySeconds: number }
  /** Not started in this invocation (deadline or attempt budget reached). */
  | { kind: "deferred" }
  /** Its record could not be written, or its attempt could not be made (a secret that does not open). */
  | { kind: "failed" };

/** A message to send back to the deliveries queue, and whom it answers for if the send fails. */
interface Send {
  request: MessageSendRequest<DeliveryMessage>;
  onSent: () => void;
  onFailed: () => void;
}

/**
 * Consumer of `acme-webhook-deliveries`. A batch holds `fanout` messages (an event to deliver to
 * each matching subscription) and `deliver` messages (a retry of one delivery), handled together:
 *
 * - D1, set-based: one round trip reads the batch's deliveries, events and subscriptions, one
 *   creates the fan-outs' deliveries and reads those due, and the outcomes are written in D1
 *   batches of {@link RECORDS_PER_WRITE}: a few dozen queries for a full batch, where one round
 *   trip per message and per attempt made 1,200 (100 events to 3 subscriptions each).
 * - Receivers, {@link DELIVERY_CONCURRENCY} at a time, each attempt's timeout running from its
 *   fetch's start.
 * - Bounded: no attempt starts after {@link DELIVERY_START_DEADLINE_MS} or past
 *   {@link DELIVERY_ATTEMPTS_PER_BATCH}. What did not start goes back on the queue as it came (a
 *   fan-out as a fresh `fanout` of its event, which attempts what is still due; a retry as its
 *   `deliver` message again), so it spends none of the message's retries.
 *
 * A failed attempt of a fan-out is queued as a `deliver` message with its delay; a failed `deliver`
 * message is retried with its delay (its retries run out into the dead-letter queue). Messages
 * whose work could not be read or written are retried with backoff; unreadable ones are dropped.
 */
export async function handleDeliveryBatch(
  batch: MessageBatch<unknown>,
  env: Env,
  overrides: Partial<DeliveryDeps> = {},
): Promise<void> {
  const config = loadAcmeConfig(env);
  const deps = resolveDeps(env, overrides);
  const db = drizzle(env.ACME_DB);
  const deadline = deps.now().getTime() + DELIVERY_START_DEADLINE_MS;
  const parsed = readable(batch.messages);
  if (parsed.length === 0) return;

  const fanouts = new Map<string, Message<unknown>[]>();
  const asked = new Map<string, Message<unknown>[]>();
  for (const { message, body } of parsed) {
    const [key, into] = body.kind === "fanout" ? [body.eventId, fanouts] : [body.deliveryId, asked];
    into.set(key, [...(into.get(key) ?? []), message]);
  }
  let planned: Planned;
  try {
    planned = await plan(db, fanouts, asked, deps);
  } catch (error) {
    log("error", "webhook delivery batch could not be read; retrying it", errorFields(error));
    for (const { message } of parsed) retryLater(message, deps);
    return;
  }
  const results = await takeTurns([...planned.turns.values()], { db, config, deps, deadline });
  await settle(results, fanouts, planned.continued, deps);
}

/** A batch's turns, and the fanned-out events whose fan-out goes on in a fresh message. */
interface Planned {
  turns: Map<string, Turn>;
  continued: Set<string>;
}

/**
 * The turns of a batch: the fan-outs' due deliveries (see {@link fanOut}) and the asked ones that
 * have not ended, each delivery once however many messages ask for it. Asked deliveries that are
 * gone or ended are acked here.
 */
async function plan(
  db: DrizzleD1Database,
  fanouts: ReadonlyMap<string, readonly Message<unknown>[]>,
  asked: ReadonlyMap<string, Message<unknown>[]>,
  deps: DeliveryDeps,
): Promise<Planned> {
  const loaded = await loadBatch(db, [...fanouts.keys()], [...asked.keys()]);
  const planned = await fanOut(db, loaded, [...fanouts.keys()], deps);
  for (const [deliveryId, messages] of asked) {
    const delivery = loaded.deliveries.get(deliveryId);
    if (!delivery || (ENDED_DELIVERY_STATUSES as readonly string[]).includes(delivery.status)) {
      for (const message of messages) message.ack();
      continue;
    }
    const turn = planned.turns.get(deliveryId);
    if (turn) turn.messages.push(...messages);
    else {
      planned.turns.set(deliveryId, {
        delivery,
        subscription: loaded.subscriptions.get(delivery.subscriptionId) ?? null,
        event: loaded.events.get(delivery.eventId) ?? null,
        messages,
      });
    }
  }
  return planned;
}

/** Retries `message` with backoff on its attempts: its work could not be read, written or queued. */
function retryLater(message: Message<unknown>, deps: DeliveryDeps): void {
  message.retry({ delaySeconds: redeliveryDelaySeconds(message.attempts, null, deps.random) });
}

/**
 * Answers every message for its turns: a `deliver` message is acked, retried with its delay, or
 * (not started) sent again as it came and acked; a fan-out's failed attempts are queued as
 * `deliver` messages with their delays, its unstarted deliveries continue in a fresh `fanout`, and
 * the fan-out message is acked once all that is queued, or retried when any of it failed.
 */
async function settle(
  results: readonly [Turn, TurnResult][],
  fanouts: ReadonlyMap<string, readonly Message<unknown>[]>,
  continued: Set<string>,
  deps: DeliveryDeps,
): Promise<void> {
  const failedFanouts = new Set<string>();
  const sends: Send[] = [];
  let deferred = 0;
  for (const [turn, result] of results) {
    const deliveryId = turn.delivery.id;
    const eventId = turn.delivery.eventId;
    if (result.kind === "deferred") deferred++;
    const [message, ...duplicates] = turn.messages;
    for (const duplicate of duplicates) duplicate.ack();
    if (message) {
      if (result.kind === "done") message.ack();
      else if (result.kind === "retry") message.retry({ delaySeconds: result.delaySeconds });
      else if (result.kind === "failed") retryLater(message, deps);
      else {
        sends.push({
          request: { body: { kind: "deliver", deliveryId } },
          onSent: () => message.ack(),
          onFailed: () => retryLater(message, deps),
        });
      }
    } else if (result.kind === "retry") {
      sends.push({
        request: { body: { kind: "deliver", deliveryId }, delaySeconds: result.delaySeconds },
        onSent: () => {},
        onFailed: () => failedFanouts.add(eventId),
      });
    } else if (result.kind === "deferred") continued.add(eventId);
    else if (result.kind === "failed") failedFanouts.add(eventId);
  }
  for (const eventId of continued) {
    if (failedFanouts.has(eventId)) continue;
    sends.push({
      request: { body: { kind: "fanout", eventId } },
      onSent: () => {},
      onFailed: () => failedFanouts.add(eventId),
    });
  }
  if (deferred > 0 || continued.size > 0) {
    log("info", "webhook deliveries left for another invocation", {
      deferred,
      fanOutsContinued: continued.size,
    });
  }
  await sendEach(deps.queue, sends);
  for (const [eventId, messages] of fanouts) {
    for (const message of messages) {
      if (failedFanouts.has(eventId)) retryLater(message, deps);
      else message.ack();
    }
  }
}

/** The batch's messages the consumer can read; any other is dropped (acked) with a log line. */
function readable(messages: readonly Message<unknown>[]): ParsedMessage[] {
  return messages.flatMap((message) => {
    const parsed = DeliveryMessageSchema.safeParse(message.body);
    if (parsed.success) return [{ message, body: parsed.data }];
    log("error", "unreadable webhook delivery message dropped", { messageId: message.id });
    message.ack();
    return [];
  });
}

/**
 * Creates one delivery per matching subscription of each fanned-out event (enabled, of the event's
 * account, wanting its type, created no later than the event) and reads those due: never tried,
 * or a retry whose time has come (its queue message was lost, so the outbox handed the event
 * again), at most {@link DELIVERY_ATTEMPTS_PER_BATCH} in event order. Safe to repeat: deliveries
 * are unique per event and subscription. An event that does not exist, or already finished, is
 * left alone.
 */
async function fanOut(
  db: DrizzleD1Database,
  loaded: LoadedBatch,
  eventIds: readonly string[],
  deps: DeliveryDeps,
): Promise<Planned> {
  const events: WebhookEventRow[] = [];
  for (const eventId of eventIds) {
    const event = loaded.events.get(eventId);
    if (!event) log("warn", "webhook event to fan out does not exist", { eventId });
    else if (!event.finishedAt) events.push(event);
  }
  const turns = new Map<string, Turn>();
  if (events.length === 0) return { turns, continued: new Set() };

  const wanted = new Map<string, readonly WebhookEventType[]>();
  const wants = (subscription: WebhookSubscriptionRow, type: WebhookEventType) => {
    const types = wanted.get(subscription.id) ?? (JSON.parse(subscription.events) as WebhookEventType[]);
    wanted.set(subscription.id, types);
    return types.includes(type);
  };
  /** A subscription the event goes to (or went to, if it no longer wants the type). */
  const takes = (subscription: WebhookSubscriptionRow | undefined, event: WebhookEventRow) =>
    subscription?.enabled === true &&
    subscription.accountId === event.accountId &&
    subscription.createdAt <= event.createdAt;

  const created: NewDelivery[] = [];
  for (const event of events) {
    for (const subscription of loaded.subscriptions.values()) {
      if (takes(subscription, event) && wants(subscription, event.type)) {
        created.push({
          id: newId("dlv"),
          eventId: event.id,
          subscriptionId: subscription.id,
          accountId: event.accountId,
        });
      }
    }
  }
  const open = events.map((e) => e.id);
  const { due, cutAt } = await createAndReadDue(db, open, created, deps.now(), DELIVERY_ATTEMPTS_PER_BATCH);
  for (const delivery of due) {
    const event = loaded.events.get(delivery.eventId) ?? null;
    const subscription = loaded.subscriptions.get(delivery.subscriptionId);
    // A due delivery whose subscription was disabled or deleted since is skipped.
    turns.set(delivery.id, {
      delivery,
      subscription: event && takes(subscription, event) ? (subscription ?? null) : null,
      event,
      messages: [],
    });
  }
  // Past the read's limit: the event it stopped in, and those after it, go on in fresh fan-outs.
  return { turns, continued: new Set(cutAt === null ? [] : open.filter((id) => id >= cutAt)) };
}

interface TurnContext {
  db: DrizzleD1Database;
  config: AcmeConfig;
  deps: DeliveryDeps;
  /** Epoch ms after which no attempt starts. */
  deadline: number;
}

/** A turn taken: its record on its way to the log, or why it has none. */
type Taken =
  | { turn: Turn; outcome: "recorded"; written: Promise<boolean>; delaySeconds: number | null }
  | { turn: Turn; outcome: "deferred" | "failed" };

/**
 * Takes every turn: ends the ones that need no attempt, attempts the others at most
 * {@link DELIVERY_CONCURRENCY} at a time while the deadline and the attempt budget allow, and
 * writes the outcomes to the delivery log as they come, {@link RECORDS_PER_WRITE} at a time.
 */
async function takeTurns(turns: readonly Turn[], context: TurnContext): Promise<[Turn, TurnResult][]> {
  const { db, config, deps } = context;
  const writer = new RecordWriter((records) => writeRecords(db, records, outboxLeaseMs(config), deps.now()));
  const slots = new ConcurrencyLimit(DELIVERY_CONCURRENCY);
  const secrets = new Map<string, Promise<string>>();
  const secretOf = (subscription: WebhookSubscriptionRow) => {
    const known = secrets.get(subscription.id);
    if (known) return known;
    const opened = signingSecret(config, subscription);
    secrets.set(subscription.id, opened);
    return opened;
  };
  let started = 0;

  const taken = await Promise.all(
    turns.map(async (turn): Promise<Taken> => {
      const closed = closedRecord(turn, config, deps.now());
      if (closed) return { turn, outcome: "recorded", written: writer.add(closed), delaySeconds: null };
      try {
        const made = await slots.run(async () => {
          if (started >= DELIVERY_ATTEMPTS_PER_BATCH || deps.now().getTime() >= context.deadline) return null;
          started++;
          return attempt(turn as AttemptableTurn, config, deps, secretOf);
        });
        if (!made) return { turn, outcome: "deferred" };
        return {
          turn,
          outcome: "recorded",
          written: writer.add(made.record),
          delaySeconds: made.delaySeconds,
        };
      } catch (error) {
        log("error", "webhook delivery attempt failed before sending", {
          deliveryId: turn.delivery.id,
          ...errorFields(error),
        });
        return { turn, outcome: "failed" };
      }
    }),
  );
  await writer.flush();
  return Promise.all(
    taken.map(async (t): Promise<[Turn, TurnResult]> => {
      if (t.outcome !== "recorded") return [t.turn, { kind: t.outcome }];
      if (!(await t.written)) return [t.turn, { kind: "failed" }];
      return [
        t.turn,
        t.delaySeconds === null ? { kind: "done" } : { kind: "retry", delaySeconds: t.delaySeconds },
      ];
    }),
  );
}

type AttemptableTurn = Turn & { subscription: WebhookSubscriptionRow; event: WebhookEventRow };

/** The record of a turn that ends without an attempt, or null when it is to be attempted. */
function closedRecord(turn: Turn, config: AcmeConfig, now: Date): ClosedRecord | null {
  const { delivery, subscription, event } = turn;
  const at = now.toISOString();
  const closed = (status: ClosedRecord["status"], error: string): ClosedRecord => ({
    kind: "closed",
    deliveryId: delivery.id,
    eventId: delivery.eventId,
    status,
    error,
    at,
  });
  if (!subscription?.enabled || !event) return closed("skipped", "subscription deleted or disabled");
  // Checked again at send time: the subscription may predate the policy, or the deployment's
  // loopback allowance may since have been withdrawn.
  const problem = webhookUrlProblem(subscription.url, { allowLoopback: config.webhookAllowLoopback });
  return problem === null ? null : closed("failed", `URL not allowed: ${problem}`);
}

/**
 * One signed POST of one event to one subscription, its timeout starting with its fetch: its
 * record, and the delay of its retry (null when it ended).
 */
async function attempt(
  { delivery, subscription, event }: AttemptableTurn,
  config: AcmeConfig,
  deps: DeliveryDeps,
  secretOf: (subscription: WebhookSubscriptionRow) => Promise<string>,
): Promise<{ record: AttemptRecord; delaySeconds: number | null }> {
  const now = deps.now();
  const result = await postSigned(deps.fetch, {
    url: subscription.url,
    id: event.id,
    body: event.payload,
    secrets: [await secretOf(subscription)],
    now,
    timeoutMs: config.webhookTimeoutMs,
    userAgent: "Acme-Webhooks/1.0",
    timeout: deps.timeout,
  });
  const attempt = delivery.attempts + 1;
  const answer = classifyAnswer(result.status, result.retryAfter, now.getTime());
  const ok = answer.kind === "delivered";
  const gone = answer.kind === "gone";
  const delaySeconds =
    answer.kind === "retry" ? redeliveryDelaySeconds(attempt, answer.retryAfterMs, deps.random) : null;
  const record: AttemptRecord = {
    kind: "attempt",
    id: newId("att"),
    deliveryId: delivery.id,
    eventId: event.id,
    subscriptionId: subscription.id,
    attempt,
    status: ok ? "succeeded" : gone ? "failed" : "retrying",
    statusCode: result.status,
    error: ok ? null : (result.error ?? `endpoint answered ${result.status}`),
    durationMs: result.durationMs,
    nextAttemptAt: delaySeconds === null ? null : new Date(now.getTime() + delaySeconds * 1000).toISOString(),
    gone,
    at: new Date().toISOString(),
  };
  return { record, delaySeconds };
}

/**
 * Collects delivery records and writes them {@link RECORDS_PER_WRITE} at a time, one write after
 * another, so a long batch keeps its log current and a crash loses at most one write's worth.
 */
class RecordWriter {
  private pending: { record: DeliveryRecord; written: PromiseWithResolvers<boolean> }[] = [];
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly write: (records: DeliveryRecord[]) => Promise<void>) {}

  /** Queues `record`; resolves true once it is written, false if its write failed. */
  add(record: DeliveryRecord): Promise<boolean> {
    const written = Promise.withResolvers<boolean>();
    this.pending.push({ record, written });
    if (this.pending.length >= RECORDS_PER_WRITE) void this.flush();
    return written.promise;
  }

  /** Writes what is queued; resolves when every write so far has finished. */
  flush(): Promise<void> {
    const run = this.pending.splice(0);
    if (run.length > 0) {
      this.writing = this.writing.then(async () => {
        try {
          await this.write(run.map((r) => r.record));
          for (const r of run) r.written.resolve(true);
        } catch (error) {
          log("error", "webhook delivery outcomes not written; their messages are retried", {
            deliveries: run.map((r) => r.record.deliveryId),
            ...errorFields(error),
          });
          for (const r of run) r.written.resolve(false);
        }
      });
    }
    return this.writing;
  }
}

/** Sends `sends` in runs of the queue's batch limit, telling each whether its run went out. */
async function sendEach(queue: DeliveryQueue, sends: readonly Send[]): Promise<void> {
  for (const run of chunk(sends, QUEUE_MAX_BATCH_MESSAGES)) {
    try {
      await queue.sendBatch(run.map((s) => s.request));
      for (const s of run) s.onSent();
    } catch (error) {
      log("error", "webhook delivery messages not queued; their messages are retried", errorFields(error));
      for (const s of run) s.onFailed();
    }
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
          finishIfDelivered(db, [delivery.eventId], now),
        ]);
      }
    } else {
      log("error", "webhook message exhausted its retries", { body: message.body });
    }
    message.ack();
  }
}
