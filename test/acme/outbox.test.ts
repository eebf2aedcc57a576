import { createMessageBatch, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { handleDeadDeliveries } from "../../src/acme/webhooks/delivery-consumer.ts";
import type { DeliveryMessage } from "../../src/acme/webhooks/messages.ts";
import {
  OUTBOX_FIRST_HAND_OFF_MS,
  OUTBOX_LEASE_MS,
  publishEvents,
  sweepOutbox,
} from "../../src/acme/webhooks/outbox.ts";
import { chunk } from "../../src/lib/d1-limits.ts";
import { acme, signedIn } from "./helpers.ts";
import {
  receiver,
  recordingQueue,
  runBatch,
  storedEvent,
  storedEvents,
  subscribe,
} from "./webhook-helpers.ts";

/** Every event of the test DB may be due at a far-off `now`: a limit above them all. */
const ALL = { limit: 100_000 };

interface EventState {
  id: string;
  enqueued_at: string | null;
  lease_until: string;
  finished_at: string | null;
}

async function eventStates(ids: string[]): Promise<Map<string, EventState>> {
  const states = new Map<string, EventState>();
  for (const run of chunk(ids, 100)) {
    const rows = await env.ACME_DB.prepare(
      `SELECT id, enqueued_at, lease_until, finished_at FROM webhook_events WHERE id IN (${run.map(() => "?").join(",")})`,
    )
      .bind(...run)
      .all<EventState>();
    for (const row of rows.results) states.set(row.id, row);
  }
  return states;
}

const plus = (at: Date, ms: number) => new Date(at.getTime() + ms);
const sorted = (ids: string[]) => [...ids].sort();
/** The one delivery an event fanned out to, as a message for the consumer. */
async function deliveryOf(eventId: string): Promise<DeliveryMessage> {
  const row = await env.ACME_DB.prepare("SELECT id FROM webhook_deliveries WHERE event_id = ?")
    .bind(eventId)
    .first<{ id: string }>();
  if (!row) throw new Error(`no delivery for ${eventId}`);
  return { kind: "deliver", deliveryId: row.id };
}

const fanout = (eventId: string): { body: DeliveryMessage } => ({ body: { kind: "fanout", eventId } });

/** Sweeps at `now` into a recording queue and returns the ids of `ours` it handed. */
async function sweptOf(ours: string[], now: Date): Promise<string[]> {
  const { queue, fanouts } = recordingQueue();
  await sweepOutbox(env, now, { queue, ...ALL });
  const mine = new Set(ours);
  return fanouts().filter((id) => mine.has(id));
}

describe("outbox: an event is kept until its delivery finished", () => {
  it("hands 150 events whose queue messages were lost again after the lease, with the same webhook-id, and never after they finished", async () => {
    const { client, token } = await signedIn();
    await subscribe(token);
    const ids = (await storedEvents(client.clientId, 150)).map((e) => e.id);
    const t0 = new Date();

    const lost = recordingQueue();
    expect(await publishEvents(env, ids, t0, { queue: lost.queue })).toBe(150);
    expect(lost.batchSizes).toEqual([100, 50]);
    const handed = await eventStates(ids);
    expect([...handed.values()].every((e) => e.enqueued_at === t0.toISOString())).toBe(true);
    expect([...handed.values()].every((e) => e.lease_until === plus(t0, OUTBOX_LEASE_MS).toISOString())).toBe(
      true,
    );

    expect(await sweptOf(ids, plus(t0, OUTBOX_LEASE_MS - 1))).toEqual([]);
    const rehandAt = plus(t0, OUTBOX_LEASE_MS);
    const again = recordingQueue();
    await sweepOutbox(env, rehandAt, { queue: again.queue, ...ALL });
    expect(sorted(again.fanouts().filter((id) => ids.includes(id)))).toEqual(sorted(ids));
    expect(again.batchSizes.every((size) => size <= 100)).toBe(true);

    const { received, fetch } = receiver([]);
    for (const run of chunk(ids, 100)) {
      const result = await runBatch(run.map(fanout), { fetch, queue: recordingQueue().queue });
      expect(result.explicitAcks).toHaveLength(run.length);
    }
    expect(sorted(received.map((r) => r.headers["webhook-id"] ?? ""))).toEqual(sorted(ids));
    const finished = await eventStates(ids);
    expect([...finished.values()].filter((e) => e.finished_at === null)).toEqual([]);

    expect(await sweptOf(ids, plus(t0, 100 * OUTBOX_LEASE_MS))).toEqual([]);
  });

  it("delivers once when a slow hand-off and the sweep's second hand-off are both consumed", async () => {
    const { client, token } = await signedIn();
    await subscribe(token);
    const event = await storedEvent(client.clientId);
    const t0 = new Date();
    await publishEvents(env, [event.id], t0, { queue: recordingQueue().queue });
    expect(await sweptOf([event.id], plus(t0, OUTBOX_LEASE_MS + 1))).toEqual([event.id]);
    const { received, fetch } = receiver([]);
    await runBatch([fanout(event.id)], { fetch, queue: recordingQueue().queue });
    await runBatch([fanout(event.id)], { fetch, queue: recordingQueue().queue });
    expect(received.map((r) => r.headers["webhook-id"])).toEqual([event.id]);
  });

  it("finishes an event whichever way its deliveries ended: succeeded, 410, dead, skipped, or no subscriber", async () => {
    const quiet = await signedIn();
    const noSubscriber = await storedEvent(quiet.client.clientId);

    const { client, token } = await signedIn();
    await subscribe(token);
    const [succeeded, gone] = await storedEvents(client.clientId, 2);
    if (!succeeded || !gone) throw new Error("events not stored");
    await runBatch([fanout(succeeded.id)], { fetch: receiver([200]).fetch, queue: recordingQueue().queue });
    await runBatch([fanout(gone.id)], { fetch: receiver([410]).fetch, queue: recordingQueue().queue });
    await runBatch([fanout(noSubscriber.id)], { fetch: receiver([]).fetch, queue: recordingQueue().queue });

    const other = await signedIn();
    const live = await subscribe(other.token);
    const [dead, skipped] = await storedEvents(other.client.clientId, 2);
    if (!dead || !skipped) throw new Error("events not stored");
    await runBatch([fanout(dead.id), fanout(skipped.id)], {
      fetch: receiver([500, 500]).fetch,
      queue: recordingQueue().queue,
    });
    const deadDelivery = await deliveryOf(dead.id);
    const skippedDelivery = await deliveryOf(skipped.id);
    expect((await eventStates([dead.id, skipped.id])).get(dead.id)?.finished_at).toBeNull();
    await handleDeadDeliveries(
      createMessageBatch<unknown>("acme-webhook-deliveries-dlq", [
        { id: "dlq-dead", timestamp: new Date(), attempts: 9, body: deadDelivery },
      ]),
      env,
    );
    await acme(`/v1/webhooks/${live.id}`, { token: other.token, method: "PATCH", body: { enabled: false } });
    await runBatch([{ body: skippedDelivery }], { fetch: receiver([]).fetch });

    const ids = [noSubscriber.id, succeeded.id, gone.id, dead.id, skipped.id];
    const states = await eventStates(ids);
    expect(ids.map((id) => [id, states.get(id)?.finished_at === null])).toEqual(ids.map((id) => [id, false]));
    expect(await sweptOf(ids, plus(new Date(), 100 * OUTBOX_LEASE_MS))).toEqual([]);
  });

  it("holds the lease of an event whose delivery waits for a retry until the retry's time plus a lease, then hands it again", async () => {
    const { client, token } = await signedIn();
    const subscription = await subscribe(token);
    const event = await storedEvent(client.clientId);
    const t0 = new Date();
    const lostRetries = recordingQueue();
    await runBatch([fanout(event.id)], {
      fetch: receiver([503], { "retry-after": "3600" }).fetch,
      queue: lostRetries.queue,
      now: () => t0,
      random: () => 0,
    });
    expect(lostRetries.sent).toHaveLength(1);
    expect(lostRetries.delays[0]).toBe(3600);
    const retryAt = plus(t0, 3_600_000);

    expect(await sweptOf([event.id], plus(t0, OUTBOX_LEASE_MS + 1))).toEqual([]);
    expect(await sweptOf([event.id], plus(retryAt, OUTBOX_LEASE_MS - 1))).toEqual([]);
    const rehandAt = plus(retryAt, OUTBOX_LEASE_MS);
    expect(await sweptOf([event.id], rehandAt)).toEqual([event.id]);

    // The re-handed fan-out attempts the overdue retry itself, with the same webhook-id.
    const { received, fetch } = receiver([200]);
    await runBatch([fanout(event.id)], { fetch, queue: recordingQueue().queue, now: () => rehandAt });
    expect(received.map((r) => r.headers["webhook-id"])).toEqual([event.id]);
    expect((await eventStates([event.id])).get(event.id)?.finished_at).not.toBeNull();
    const log = await acme(`/v1/webhooks/${subscription.id}/deliveries`, { token });
    const [delivery] = (await log.json<{ results: { status: string; attempts: number }[] }>()).results;
    expect(delivery).toMatchObject({ status: "succeeded", attempts: 2 });
  });

  it("does not attempt a retry whose time has not come when a fan-out message comes twice", async () => {
    const { client, token } = await signedIn();
    await subscribe(token);
    const event = await storedEvent(client.clientId);
    const t0 = new Date();
    await runBatch([fanout(event.id)], {
      fetch: receiver([500]).fetch,
      queue: recordingQueue().queue,
      now: () => t0,
    });
    const { received, fetch } = receiver([]);
    const retries = recordingQueue();
    await runBatch([fanout(event.id)], { fetch, queue: retries.queue, now: () => plus(t0, 100) });
    expect(received).toEqual([]);
    expect(retries.sent).toEqual([]);
  });

  it("fans one event out to 120 subscriptions within D1's parameter limit and queues their retries in batches of at most 100", async () => {
    const { client, token } = await signedIn();
    const subscriptions = [];
    for (const run of chunk(
      Array.from({ length: 120 }, (_, i) => i),
      10,
    )) {
      subscriptions.push(...(await Promise.all(run.map(() => subscribe(token)))));
    }
    const event = await storedEvent(client.clientId);
    const failing = receiver(Array.from({ length: 120 }, () => 500));
    const retries = recordingQueue();
    const first = await runBatch([fanout(event.id)], { fetch: failing.fetch, queue: retries.queue });
    expect(first.explicitAcks).toHaveLength(1);
    expect(failing.received).toHaveLength(120);
    expect(retries.batchSizes).toEqual([100, 20]);
    const count = await env.ACME_DB.prepare("SELECT COUNT(*) AS n FROM webhook_deliveries WHERE event_id = ?")
      .bind(event.id)
      .first<{ n: number }>();
    expect(count?.n).toBe(120);

    const { received, fetch } = receiver([]);
    for (const run of chunk(retries.sent, 100)) {
      await runBatch(
        run.map((body) => ({ body, attempts: 2 })),
        { fetch },
      );
      if (run.length === 100) expect((await eventStates([event.id])).get(event.id)?.finished_at).toBeNull();
    }
    expect(received).toHaveLength(120);
    expect((await eventStates([event.id])).get(event.id)?.finished_at).not.toBeNull();
  });

  it("takes the lease from ACME_OUTBOX_LEASE_MS where a deployment sets it, and refuses a bad value", async () => {
    const { client } = await signedIn();
    const event = await storedEvent(client.clientId);
    const shortLease = { ...env, ACME_OUTBOX_LEASE_MS: "2000" } as Env;
    const t0 = new Date();
    await publishEvents(shortLease, [event.id], t0, { queue: recordingQueue().queue });
    expect((await eventStates([event.id])).get(event.id)?.lease_until).toBe(plus(t0, 2000).toISOString());
    expect(await sweptOf([event.id], plus(t0, 1999))).toEqual([]);
    expect(await sweptOf([event.id], plus(t0, 2000))).toEqual([event.id]);
    for (const bad of ["soon", "10", "-5000"]) {
      const badEnv = { ...env, ACME_OUTBOX_LEASE_MS: bad } as Env;
      await expect(publishEvents(badEnv, [event.id], t0, { queue: recordingQueue().queue })).rejects.toThrow(
        /ACME_OUTBOX_LEASE_MS/,
      );
    }
  });

  it("hands a backlog larger than one sweep over several sweeps, oldest lease first", async () => {
    const { client } = await signedIn();
    const base = Date.UTC(2000, 0, 1);
    const ids = (
      await storedEvents(client.clientId, 150, { leaseUntil: (i) => new Date(base + i).toISOString() })
    ).map((e) => e.id);
    const now = new Date();
    const first = recordingQueue();
    expect(await sweepOutbox(env, now, { queue: first.queue, limit: 100 })).toBe(100);
    expect(first.fanouts()).toEqual(ids.slice(0, 100));
    const second = recordingQueue();
    await sweepOutbox(env, now, { queue: second.queue, limit: 100 });
    expect(second.fanouts().slice(0, 50)).toEqual(ids.slice(100));
  });

  it("keeps events the queue refused for the sweep, and hands the rest", async () => {
    const { client } = await signedIn();
    const ids = (await storedEvents(client.clientId, 150)).map((e) => e.id);
    const t0 = new Date();
    let calls = 0;
    const flaky = recordingQueue();
    const refusesSecond = {
      sendBatch: async (messages: Iterable<MessageSendRequest<DeliveryMessage>>) => {
        calls += 1;
        if (calls === 2) throw new Error("queue unavailable");
        return flaky.queue.sendBatch(messages);
      },
    };
    expect(await publishEvents(env, ids, t0, { queue: refusesSecond })).toBe(100);
    const states = await eventStates(ids);
    expect(ids.slice(0, 100).every((id) => states.get(id)?.enqueued_at !== null)).toBe(true);
    expect(ids.slice(100).every((id) => states.get(id)?.enqueued_at === null)).toBe(true);
    const createdAt = Date.parse(states.get(ids[149] ?? "")?.lease_until ?? "") - OUTBOX_FIRST_HAND_OFF_MS;
    const swept = await sweptOf(ids, new Date(createdAt + OUTBOX_FIRST_HAND_OFF_MS));
    expect(sorted(swept)).toEqual(sorted(ids.slice(100)));
  });

  it("does not send an event to a subscription created after it, even when the event is handed again", async () => {
    const { client, token } = await signedIn();
    const event = await storedEvent(client.clientId);
    await env.ACME_DB.prepare("UPDATE webhook_events SET created_at = ? WHERE id = ?")
      .bind(new Date(Date.now() - 60_000).toISOString(), event.id)
      .run();
    await subscribe(token);
    const { received, fetch } = receiver([]);
    await runBatch([fanout(event.id)], { fetch, queue: recordingQueue().queue });
    expect(received).toEqual([]);
    expect((await eventStates([event.id])).get(event.id)?.finished_at).not.toBeNull();
  });

  it("acks a fan-out for an event that does not exist or already finished, and sends nothing", async () => {
    const { client, token } = await signedIn();
    await subscribe(token);
    const event = await storedEvent(client.clientId);
    await runBatch([fanout(event.id)], { fetch: receiver([]).fetch, queue: recordingQueue().queue });
    const { received, fetch } = receiver([]);
    const result = await runBatch([fanout(event.id), fanout("msg_does_not_exist")], {
      fetch,
      queue: recordingQueue().queue,
    });
    expect(result.explicitAcks).toHaveLength(2);
    expect(received).toEqual([]);
  });

  it("migration 0002 finishes events fanned out before the lease whose deliveries all ended, and leaves the rest due", async () => {
    const migration = env.ACME_MIGRATIONS.find((m) => m.name.startsWith("0002_"));
    const settle = migration?.queries.find((q) => q.includes("UPDATE `webhook_events`"));
    if (!settle) throw new Error("migration 0002 has no UPDATE of webhook_events");
    const { client, token } = await signedIn();
    await subscribe(token);
    const [delivered, retrying, neverHanded] = await storedEvents(client.clientId, 3);
    if (!delivered || !retrying || !neverHanded) throw new Error("events not stored");
    await runBatch([fanout(delivered.id)], { fetch: receiver([200]).fetch, queue: recordingQueue().queue });
    await runBatch([fanout(retrying.id)], { fetch: receiver([500]).fetch, queue: recordingQueue().queue });
    // As the rows stood before the lease: handed, unfinished, lease at the column's default.
    const ids = [delivered.id, retrying.id, neverHanded.id];
    await env.ACME_DB.prepare(
      `UPDATE webhook_events SET finished_at = NULL, lease_until = '1970-01-01T00:00:00.000Z',
         enqueued_at = CASE WHEN id = ? THEN NULL ELSE created_at END WHERE id IN (?, ?, ?)`,
    )
      .bind(neverHanded.id, ...ids)
      .run();
    await env.ACME_DB.prepare(settle).run();
    const states = await eventStates(ids);
    expect(states.get(delivered.id)?.finished_at).not.toBeNull();
    expect(states.get(retrying.id)?.finished_at).toBeNull();
    expect(states.get(neverHanded.id)?.finished_at).toBeNull();
    expect(sorted(await sweptOf(ids, new Date()))).toEqual(sorted([retrying.id, neverHanded.id]));
  });
});
