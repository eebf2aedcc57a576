import { env } from "cloudflare:test";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import { webhookEvents } from "../../src/acme/db/schema.ts";
import {
  budgetOverruns,
  countOperations,
  expectWithinBudget,
  type OperationCounts,
  subrequests,
  WORKERS_PAID_LIMITS,
} from "./count-operations.ts";

/** A stand-in queue (so nothing reaches a real consumer) that answers after a turn of the event loop. */
function standInQueue() {
  const sent: unknown[] = [];
  return {
    sent,
    queue: {
      send: async (body: unknown) => {
        await scheduler.wait(1);
        sent.push(body);
      },
      sendBatch: async (messages: Iterable<{ body: unknown }>) => {
        await scheduler.wait(1);
        for (const m of messages) sent.push(m.body);
      },
    },
  };
}

/** A fetch that answers 200 once `release()` is called (or at once when `open`). */
function heldFetch() {
  const waiting: (() => void)[] = [];
  return {
    waiting,
    fetch: (_input: string, _init: RequestInit) =>
      new Promise<Response>((resolve) => waiting.push(() => resolve(new Response("ok")))),
    releaseAll: () => {
      for (const release of waiting.splice(0)) release();
    },
  };
}

describe("countOperations", () => {
  it("counts each D1 statement as a query, a batch of n as n queries in one call, and returns real results", async () => {
    const counter = countOperations(env);
    const db = drizzle(counter.env.ACME_DB);
    const rows = await db.select({ id: webhookEvents.id }).from(webhookEvents).limit(1);
    expect(Array.isArray(rows)).toBe(true);
    expect(counter.counts).toMatchObject({ d1Queries: 1, d1Calls: 1 });

    const [one, two, three] = await counter.env.ACME_DB.batch<{ n: number }>([
      counter.env.ACME_DB.prepare("SELECT ? AS n").bind(1),
      counter.env.ACME_DB.prepare("SELECT ? AS n").bind(2),
      counter.env.ACME_DB.prepare("SELECT 3 AS n"),
    ]);
    expect([one, two, three].map((r) => r?.results[0]?.n)).toEqual([1, 2, 3]);
    expect(counter.counts).toMatchObject({ d1Queries: 4, d1Calls: 2 });

    await db.batch([db.select().from(webhookEvents).limit(1), db.select().from(webhookEvents).limit(1)]);
    await counter.env.ACME_DB.prepare("SELECT 1").first();
    await counter.env.ACME_DB.prepare("SELECT 1").raw();
    // exec runs one statement per line and reports how many it ran.
    await counter.env.ACME_DB.exec("SELECT 1;\nSELECT 2;");
    expect(counter.counts).toMatchObject({ d1Queries: 10, d1Calls: 6 });
  });

  it("counts KV operations, a bulk get as one per key", async () => {
    const counter = countOperations(env);
    const kv = counter.env.CACHE;
    const key = `budget-${crypto.randomUUID()}`;
    await kv.put(key, "v");
    expect(await kv.get(key)).toBe("v");
    await kv.getWithMetadata(key);
    const bulk = await kv.get([key, `${key}-b`, `${key}-c`]);
    expect(bulk.get(key)).toBe("v");
    await kv.list({ prefix: key });
    await kv.delete(key);
    expect(counter.counts.kvOperations).toBe(1 + 1 + 1 + 3 + 1 + 1);
  });

  it("counts queue calls, their messages and the largest message as the queue measures it", async () => {
    const counter = countOperations(env);
    const { queue, sent } = standInQueue();
    const counted = counter.binding(queue);
    await counted.send({ text: "é" });
    await counted.sendBatch([{ body: "a" }, { body: "b".repeat(10) }, { body: "c" }]);
    expect(sent).toHaveLength(4);
    // {"text":"é"}: 11 ASCII bytes and two for é.
    expect(counter.counts).toMatchObject({ queueCalls: 2, queueMessages: 4, largestQueueMessageBytes: 13 });
  });

  it("counts every call on a Durable Object stub, and none for making ids and stubs", async () => {
    const counter = countOperations(env);
    const namespace = counter.env.ACME_LIMITER;
    const stub = namespace.get(namespace.idFromName(`budget-${crypto.randomUUID()}`));
    const policy = { limit: 10, windowSeconds: 60 };
    const first = await stub.peek("read", policy);
    await stub.consume("read", policy);
    expect(first.allowed).toBe(true);
    expect(counter.counts.durableObjectCalls).toBe(2);
  });

  it("counts Workflow calls, also those that fail", async () => {
    const counter = countOperations(env);
    await expect(counter.env.SYNC_JOBS.get(`budget-${crypto.randomUUID()}`)).rejects.toThrow();
    expect(counter.counts.workflowCalls).toBe(1);
  });

  it("tracks the most fetches and connections waiting at once", async () => {
    const counter = countOperations(env);
    const held = heldFetch();
    const fetch = counter.fetch(held.fetch);
    const first = Array.from({ length: 9 }, () => fetch("https://a.example/", {}));
    await scheduler.wait(1);
    held.releaseAll();
    await Promise.all(first);
    for (let i = 0; i < 3; i++) {
      const one = fetch("https://a.example/", {});
      held.releaseAll();
      await one;
    }
    expect(counter.counts).toMatchObject({ fetches: 12, maxInFlightFetches: 9, maxInFlightConnections: 9 });

    const kvAndFetch = countOperations(env);
    const again = heldFetch();
    const pending = kvAndFetch.fetch(again.fetch)("https://a.example/", {});
    await kvAndFetch.env.CACHE.get(`budget-${crypto.randomUUID()}`);
    again.releaseAll();
    await pending;
    expect(kvAndFetch.counts).toMatchObject({ maxInFlightFetches: 1, maxInFlightConnections: 2 });
  });

  it("counts the global fetch while asked to, and restores it", async () => {
    const counter = countOperations(env);
    const original = globalThis.fetch;
    const restore = counter.countGlobalFetch();
    try {
      expect(globalThis.fetch).not.toBe(original);
      // An address nothing listens on: the call fails fast, and still counts.
      await expect(fetch("http://127.0.0.1:9/")).rejects.toThrow();
    } finally {
      restore();
    }
    expect(globalThis.fetch).toBe(original);
    expect(counter.counts).toMatchObject({ fetches: 1, maxInFlightFetches: 1 });
  });

  it("zeroes the counts on reset, the bindings still counted", async () => {
    const counter = countOperations(env);
    await counter.env.ACME_DB.prepare("SELECT 1").first();
    counter.reset();
    expect(counter.counts.d1Queries).toBe(0);
    await counter.env.ACME_DB.prepare("SELECT 1").first();
    expect(counter.counts.d1Queries).toBe(1);
  });
});

describe("budgets", () => {
  const quiet: OperationCounts = {
    d1Queries: 10,
    d1Calls: 4,
    kvOperations: 2,
    queueCalls: 1,
    queueMessages: 3,
    largestQueueMessageBytes: 40,
    durableObjectCalls: 1,
    workflowCalls: 0,
    fetches: 6,
    maxInFlightFetches: 6,
    maxInFlightConnections: 6,
  };

  it("counts every call that leaves the isolate as a subrequest", () => {
    expect(subrequests(quiet)).toBe(6 + 1 + 1 + 0 + 2 + 4);
  });

  it("passes counts within the limits less the margin, and names each overrun", () => {
    expect(budgetOverruns(quiet, { margin: 0.5 })).toEqual([]);
    expectWithinBudget(quiet, { margin: 0.9 });
    const heavy: OperationCounts = {
      ...quiet,
      d1Queries: 501,
      kvOperations: 500,
      fetches: 600,
      maxInFlightFetches: 7,
      maxInFlightConnections: 7,
      largestQueueMessageBytes: WORKERS_PAID_LIMITS.queueMessageBytes + 1,
    };
    expect(budgetOverruns(heavy, { margin: 0.5 })).toEqual([
      "D1 queries: 501 > 500",
      "subrequests: 1106 > 500",
      "fetches in flight: 7 > 6",
      "connections in flight: 7 > 6",
      "queue message bytes: 127901 > 127900",
    ]);
    expect(() => expectWithinBudget(heavy, { margin: 0.5 })).toThrow(/D1 501 queries/);
  });

  it("refuses a margin outside [0, 1)", () => {
    expect(() => budgetOverruns(quiet, { margin: 1 })).toThrow(RangeError);
    expect(() => budgetOverruns(quiet, { margin: -0.1 })).toThrow(RangeError);
    expect(() => budgetOverruns(quiet, { margin: Number.NaN })).toThrow(RangeError);
  });
});
