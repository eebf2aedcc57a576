import { createMessageBatch, env, runInDurableObject } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ATTEMPTS_PER_RUN,
  courierOf,
  courierRuntime,
  type DestinationCourier,
} from "../../src/integration/destinations/courier.ts";
import { handleInboxBatch } from "../../src/integration/webhooks/inbox-consumer.ts";
import { WORKER_MAX_OPEN_CONNECTIONS } from "../../src/lib/worker-limits.ts";
import { sqlIn } from "../integration/connection-data-helpers.ts";
import { api, newConnection } from "../integration/helpers.ts";
import { acmeContact, eventBody, inboxMessage } from "../integration/inbox-helpers.ts";
import { countOperations, describeCounts, expectWithinBudget } from "./count-operations.ts";

// A burst of 10,000 changes for one connection with three destinations: every inbox batch and
// every courier run is counted against the per-invocation limits, and the burst drains.

const CHANGES = 10_000;
const BATCH = 100;
const DESTINATIONS = 3;
const saved = { ...courierRuntime };
const delivered = new Map<string, number>();

beforeAll(() => {
  // Every courier of this isolate (their alarms included) delivers to this receiver.
  courierRuntime.fetch = async (url, init) => {
    const id = `${url} ${new Headers(init.headers).get("webhook-id")}`;
    delivered.set(id, (delivered.get(id) ?? 0) + 1);
    return new Response("ok");
  };
});

afterAll(() => {
  Object.assign(courierRuntime, saved);
});

describe("a burst of 10,000 changes to three destinations", { timeout: 240_000 }, () => {
  it("drains with every inbox batch and courier run inside the per-invocation limits, at most 6 deliveries in flight", async () => {
    const connection = await newConnection();
    const destinations: string[] = [];
    for (let i = 0; i < DESTINATIONS; i++) {
      const res = await api("/api/v1/destinations", {
        key: connection.apiKey,
        method: "POST",
        body: { url: `https://burst${i}.acme-bridge.dev/in` },
      });
      destinations.push((await res.json<{ id: string }>()).id);
    }
    for (let b = 0; b < CHANGES / BATCH; b++) {
      const counter = countOperations(env);
      await handleInboxBatch(
        createMessageBatch<unknown>(
          "integration-inbox",
          Array.from({ length: BATCH }, (_, i) => {
            const n = b * BATCH + i;
            return {
              id: `burst-${n}`,
              timestamp: new Date(),
              attempts: 1,
              body: inboxMessage(
                connection.connectionId,
                `msg_burst${n}`,
                eventBody("contact.created", acmeContact(`ct_burst${n}`, 1)),
              ),
            };
          }),
        ),
        counter.env,
      );
      expect(counter.counts.durableObjectCalls, describeCounts(counter.counts)).toBe(1);
      expectWithinBudget(counter.counts, { margin: 0.5 });
    }
    const [queued] = await sqlIn<{ n: number }>(
      connection.connectionId,
      "SELECT COUNT(*) AS n FROM deliveries",
    );
    expect(queued?.n).toBe(CHANGES * DESTINATIONS);

    // Courier runs, each counted (their alarms run beside them, on the same code and caps).
    let runs = 0;
    for (;;) {
      const [pending] = await sqlIn<{ n: number }>(
        connection.connectionId,
        "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'pending'",
      );
      if (pending?.n === 0) break;
      for (const destinationId of destinations) {
        const counter = countOperations(env);
        const attempts = await runInDurableObject(
          courierOf(env, connection.connectionId, destinationId),
          async (instance: DestinationCourier) => {
            const own = (instance as unknown as { env: Env }).env;
            (instance as unknown as { env: Env }).env = counter.env;
            try {
              return await instance.run({ ...courierRuntime, fetch: counter.fetch(courierRuntime.fetch) });
            } finally {
              (instance as unknown as { env: Env }).env = own;
            }
          },
        );
        runs += 1;
        expect(attempts).toBeLessThanOrEqual(ATTEMPTS_PER_RUN);
        expect(counter.counts.maxInFlightFetches, describeCounts(counter.counts)).toBeLessThanOrEqual(
          WORKER_MAX_OPEN_CONNECTIONS,
        );
        expectWithinBudget(counter.counts, { margin: 0.5 });
      }
      expect(runs).toBeLessThan(1000);
    }
    // Every change reached every destination, each at least once.
    expect(delivered.size).toBe(CHANGES * DESTINATIONS);
    const [failed] = await sqlIn<{ n: number }>(
      connection.connectionId,
      "SELECT COUNT(*) AS n FROM deliveries WHERE status != 'succeeded'",
    );
    expect(failed?.n).toBe(0);
  });
});
