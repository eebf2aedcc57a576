import {
  createExecutionContext,
  createMessageBatch,
  env,
  getQueueResult,
  type QueueResult,
} from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import {
  DELIVERY_ATTEMPTS_PER_BATCH,
  DELIVERY_CONCURRENCY,
  DELIVERY_START_DEADLINE_MS,
  type DeliveryDeps,
  handleDeliveryBatch,
} from "../../src/acme/webhooks/delivery-consumer.ts";
import type { DeliveryMessage } from "../../src/acme/webhooks/messages.ts";
import { chunk } from "../../src/lib/d1-limits.ts";
import { WORKER_MAX_OPEN_CONNECTIONS } from "../../src/lib/worker-limits.ts";
import { signedIn } from "../acme/helpers.ts";
import { recordingQueue, storedEvents, subscribe } from "../acme/webhook-helpers.ts";
import { countOperations, describeCounts, expectWithinBudget } from "./count-operations.ts";

/** The largest batch the deliveries queue hands one invocation (max_batch_size in wrangler.toml). */
const BATCH = 100;

/** Runs the delivery consumer over one batch and returns what it acked and retried. */
async function consume(
  messages: DeliveryMessage[],
  deps: Partial<DeliveryDeps>,
  targetEnv: Env = env,
): Promise<QueueResult> {
  const batch = createMessageBatch<unknown>(
    "acme-webhook-deliveries",
    messages.map((body, i) => ({
      id: `m${i}-${crypto.randomUUID()}`,
      timestamp: new Date(),
      attempts: 1,
      body,
    })),
  );
  await handleDeliveryBatch(batch, targetEnv, deps);
  return getQueueResult(batch, createExecutionContext());
}

/** Runs one batch with the env, fetch and queue counted. */
async function countedBatch(messages: DeliveryMessage[], fetch: DeliveryDeps["fetch"]) {
  const counter = countOperations(env);
  const queue = recordingQueue();
  const result = await consume(
    messages,
    { fetch: counter.fetch(fetch), queue: counter.binding(queue.queue) },
    counter.env,
  );
  return { counts: counter.counts, result, queue };
}

/** A receiver that answers 200 after a moment, recording "<webhook-id> <url>" for each request. */
function busyReceiver() {
  const received: string[] = [];
  const fetch: DeliveryDeps["fetch"] = async (url, init) => {
    received.push(`${(init.headers as Record<string, string>)["webhook-id"]} ${url}`);
    await scheduler.wait(2);
    return new Response(null, { status: 200 });
  };
  return { received, fetch };
}

/** `events` events, spread over accounts of `subscriptions` subscriptions each, stored unpublished. */
async function eventsWithSubscribers(events: number, subscriptions: number, perAccount = 25) {
  const stored = [];
  for (const run of chunk(
    Array.from({ length: events }, (_, i) => i),
    perAccount,
  )) {
    const { client, token } = await signedIn();
    for (let s = 0; s < subscriptions; s++)
      await subscribe(token, { url: `https://r${s}.example.com/hooks` });
    stored.push(...(await storedEvents(client.clientId, run.length)));
  }
  return stored;
}

const fanouts = (events: { id: string }[]): DeliveryMessage[] =>
  events.map((e) => ({ kind: "fanout", eventId: e.id }));

async function unfinishedOf(eventIds: string[]): Promise<number> {
  const row = await env.ACME_DB.prepare(
    "SELECT COUNT(*) AS n FROM webhook_events WHERE id IN (SELECT value FROM json_each(?)) AND finished_at IS NULL",
  )
    .bind(JSON.stringify(eventIds))
    .first<{ n: number }>();
  return row?.n ?? -1;
}

async function deliveryStates(eventIds: string[]) {
  const { results } = await env.ACME_DB.prepare(
    `SELECT d.event_id, d.status, d.attempts, d.last_error FROM webhook_deliveries d
     WHERE d.event_id IN (SELECT value FROM json_each(?)) ORDER BY d.event_id`,
  )
    .bind(JSON.stringify(eventIds))
    .all<{ event_id: string; status: string; attempts: number; last_error: string | null }>();
  return results;
}

describe("Acme's delivery consumer within the per-invocation budgets", () => {
  it(`fans out a full batch of ${BATCH} events to 3 subscriptions each within the D1, subrequest and connection limits`, async () => {
    const events = await eventsWithSubscribers(BATCH, 3);
    const { received, fetch } = busyReceiver();

    const { counts, result, queue } = await countedBatch(fanouts(events), fetch);

    console.log(`delivery batch of ${BATCH} x 3: ${describeCounts(counts)}`);
    expect(result.explicitAcks).toHaveLength(BATCH);
    expect(queue.sent).toEqual([]);
    expect(received).toHaveLength(BATCH * 3);
    expect(new Set(received).size).toBe(BATCH * 3);
    expect(counts.maxInFlightFetches).toBeLessThanOrEqual(WORKER_MAX_OPEN_CONNECTIONS);
    expectWithinBudget(counts, { margin: 0.5 });
    expect(await unfinishedOf(events.map((e) => e.id))).toBe(0);
  });

  it(`attempts at most ${DELIVERY_ATTEMPTS_PER_BATCH} deliveries in one invocation and goes on with the rest in fresh fan-outs, each within budget`, async () => {
    const events = await eventsWithSubscribers(BATCH, 4);
    const { received, fetch } = busyReceiver();

    const first = await countedBatch(fanouts(events), fetch);
    console.log(`delivery batch of ${BATCH} x 4: ${describeCounts(first.counts)}`);
    expect(received).toHaveLength(DELIVERY_ATTEMPTS_PER_BATCH);
    expect(first.result.explicitAcks).toHaveLength(BATCH);
    expect(first.result.retryMessages).toEqual([]);
    expectWithinBudget(first.counts, { margin: 0.5 });
    const continued = first.queue.sent;
    expect(continued.length).toBeGreaterThan(0);
    expect(continued.every((m) => m.kind === "fanout")).toBe(true);
    expect(first.queue.delays.every((d) => d === undefined)).toBe(true);

    const second = await countedBatch(continued, fetch);
    expectWithinBudget(second.counts, { margin: 0.5 });
    expect(second.queue.sent).toEqual([]);
    expect(received).toHaveLength(BATCH * 4);
    expect(new Set(received).size).toBe(BATCH * 4);
    expect(await unfinishedOf(events.map((e) => e.id))).toBe(0);
  });

  it("starts each attempt's timeout when its fetch starts, not while it waits for one of the six connections", async () => {
    const events = await eventsWithSubscribers(12, 1);
    // The timer is the clock here: each signal aborts only when the test says its time is up.
    const timers: AbortController[] = [];
    const timeout = (_ms: number) => {
      const timer = new AbortController();
      timers.push(timer);
      return timer.signal;
    };
    const waiting: { answer: (status: number) => void; signal: AbortSignal }[] = [];
    const fetch: DeliveryDeps["fetch"] = (_url, init) =>
      new Promise<Response>((resolve, reject) => {
        const signal = init.signal as AbortSignal;
        signal.addEventListener("abort", () => reject(signal.reason));
        waiting.push({ answer: (status) => resolve(new Response(null, { status })), signal });
      });
    const queue = recordingQueue();

    const batch = consume(fanouts(events), { fetch, timeout, queue: queue.queue });
    await vi.waitFor(() => expect(waiting).toHaveLength(DELIVERY_CONCURRENCY));
    // Six receivers are waited on, and only their six clocks run.
    expect(timers).toHaveLength(DELIVERY_CONCURRENCY);
    for (const timer of timers) timer.abort(new DOMException("The operation timed out.", "TimeoutError"));
    await vi.waitFor(() => expect(waiting).toHaveLength(12));
    // The next six started as slots freed, each with a fresh clock the first six's timeouts did not touch.
    expect(timers).toHaveLength(12);
    expect(waiting.slice(6).map((w) => w.signal.aborted)).toEqual(Array(6).fill(false));
    for (const w of waiting.slice(6)) w.answer(200);
    const result = await batch;

    expect(result.explicitAcks).toHaveLength(12);
    const states = await deliveryStates(events.map((e) => e.id));
    expect(states.filter((s) => s.status === "retrying" && s.last_error === "timed out")).toHaveLength(6);
    expect(states.filter((s) => s.status === "succeeded")).toHaveLength(6);
    expect(queue.sent).toHaveLength(6);
    expect(queue.sent.every((m) => m.kind === "deliver")).toBe(true);
  });

  it("starts no attempt after its deadline and puts what did not start back on the queue, retries unspent", async () => {
    const events = await eventsWithSubscribers(12, 1);
    const t0 = Date.now();
    let clock = t0;
    const received: string[] = [];
    const fetch: DeliveryDeps["fetch"] = async (_url, init) => {
      received.push((init.headers as Record<string, string>)["webhook-id"] ?? "");
      // The sixth request takes the batch past its deadline: nothing after it may start.
      if (received.length === DELIVERY_CONCURRENCY) clock = t0 + DELIVERY_START_DEADLINE_MS;
      await scheduler.wait(1);
      return new Response(null, { status: 200 });
    };
    const queue = recordingQueue();

    const first = await consume(fanouts(events), { fetch, queue: queue.queue, now: () => new Date(clock) });
    expect(received).toHaveLength(DELIVERY_CONCURRENCY);
    expect(first.explicitAcks).toHaveLength(12);
    expect(first.retryMessages).toEqual([]);
    const started = new Set(received);
    const left = events.filter((e) => !started.has(e.id));
    expect(queue.sent).toEqual(left.map((e) => ({ kind: "fanout", eventId: e.id })));
    // What did not start was not attempted: no attempt logged, still pending.
    const states = await deliveryStates(left.map((e) => e.id));
    expect(states.map((s) => [s.status, s.attempts])).toEqual(Array(6).fill(["pending", 0]));

    const second = await consume(queue.sent.splice(0), { fetch: busyReceiver().fetch, queue: queue.queue });
    expect(second.explicitAcks).toHaveLength(6);
    expect(queue.sent).toEqual([]);
    expect(await unfinishedOf(events.map((e) => e.id))).toBe(0);
  });

  it("sends a retry that did not start before the deadline back as it came and acks it, spending none of its retries", async () => {
    const events = await eventsWithSubscribers(8, 1);
    const failing = recordingQueue();
    await consume(fanouts(events), {
      fetch: async () => new Response(null, { status: 503 }),
      queue: failing.queue,
    });
    expect(failing.sent).toHaveLength(8);
    const t0 = Date.now();
    let clock = t0;
    let requests = 0;
    const fetch: DeliveryDeps["fetch"] = async () => {
      if (++requests === DELIVERY_CONCURRENCY) clock = t0 + DELIVERY_START_DEADLINE_MS;
      return new Response(null, { status: 200 });
    };
    const queue = recordingQueue();

    const result = await consume(failing.sent, { fetch, queue: queue.queue, now: () => new Date(clock) });

    expect(requests).toBe(DELIVERY_CONCURRENCY);
    expect(result.explicitAcks).toHaveLength(8);
    expect(result.retryMessages).toEqual([]);
    expect(queue.sent).toHaveLength(2);
    expect(queue.sent.every((m) => failing.sent.some((f) => JSON.stringify(f) === JSON.stringify(m)))).toBe(
      true,
    );
  });

  it("attempts a delivery once when its fan-out and its retry come in the same batch", async () => {
    const [event] = await eventsWithSubscribers(1, 1);
    if (!event) throw new Error("no event");
    const failing = recordingQueue();
    await consume(fanouts([event]), {
      fetch: async () => new Response(null, { status: 500 }),
      queue: failing.queue,
    });
    const [retry] = failing.sent;
    if (retry?.kind !== "deliver") throw new Error("expected a retry");
    const { received, fetch } = busyReceiver();
    const later = new Date(Date.now() + 3_600_000);

    const result = await consume([{ kind: "fanout", eventId: event.id }, retry], {
      fetch,
      queue: recordingQueue().queue,
      now: () => later,
    });

    expect(received).toHaveLength(1);
    expect(result.explicitAcks).toHaveLength(2);
    expect(await unfinishedOf([event.id])).toBe(0);
  });

  it("retries every message, and calls no receiver, when the batch cannot be read", async () => {
    const events = await eventsWithSubscribers(3, 1);
    const broken = {
      ...env,
      ACME_DB: new Proxy(env.ACME_DB, {
        get(target, property) {
          if (property === "batch") return () => Promise.reject(new Error("injected D1 failure"));
          const value = Reflect.get(target, property);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }),
    } as Env;
    const { received, fetch } = busyReceiver();

    const result = await consume(fanouts(events), { fetch, queue: recordingQueue().queue }, broken);

    expect(received).toEqual([]);
    expect(result.explicitAcks).toEqual([]);
    expect(result.retryMessages).toHaveLength(3);
  });
});
