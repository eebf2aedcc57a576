import { createMessageBatch, env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import type { AcmeTransport } from "../../src/integration/acme-client/transport.ts";
import { loadIntegrationConfig } from "../../src/integration/config.ts";
import { runJobStep } from "../../src/integration/jobs/job-step.ts";
import { KV_OPS_PER_STEP } from "../../src/integration/jobs/sync-step.ts";
import { handleInboxBatch } from "../../src/integration/webhooks/inbox-consumer.ts";
import { newId } from "../../src/lib/ids.ts";
import { WORKER_MAX_OPEN_CONNECTIONS } from "../../src/lib/worker-limits.ts";
import { createClient, uniqueEmail } from "../acme/helpers.ts";
import { dataOf } from "../integration/connection-data-helpers.ts";
import { connect, newConnection } from "../integration/helpers.ts";
import { acmeContact, eventBody, inboxMessage } from "../integration/inbox-helpers.ts";
import { countOperations, describeCounts, expectWithinBudget, subrequests } from "./count-operations.ts";

// Each handler of the integration whose work grows with its input, driven at its worst case and
// counted against Cloudflare's per-invocation limits (Workers Paid), with half of each left over.

const MARGIN = 0.5;
const BATCH = 100;
const app = createApp();
/** The in-Worker Acme, as the sync jobs' Workflow reaches it. */
const inProcess: AcmeTransport = (request) => Promise.resolve(app.fetch(request, env));

/** Marks contacts as cached in the connection's object (as the read path does before a KV write). */
async function markCached(connectionId: string, contactIds: string[]): Promise<void> {
  const stub = env.CONNECTION_DATA.get(env.CONNECTION_DATA.idFromName(connectionId));
  await runInDurableObject(stub, (_, state) => {
    for (const id of contactIds) {
      state.storage.sql.exec(
        "INSERT OR REPLACE INTO cached_contacts (contact_id, until) VALUES (?, ?)",
        id,
        Date.now() + 86_400_000,
      );
    }
  });
}

function batchOf(bodies: unknown[]) {
  return createMessageBatch<unknown>(
    "integration-inbox",
    bodies.map((body, i) => ({
      id: `m${i}-${crypto.randomUUID()}`,
      timestamp: new Date(),
      attempts: 1,
      body,
    })),
  );
}

describe("the inbox consumer's budget", () => {
  it("a full batch of 100 events over 100 connections, every contact cached: 100 object calls, 100 KV writes, no D1, at most 6 in flight", async () => {
    const connections = Array.from({ length: BATCH }, () => `${newId("conn")}_budget`);
    for (const id of connections) await markCached(id, ["ct_budget"]);
    const counter = countOperations(env);
    await handleInboxBatch(
      batchOf(
        connections.map((id, i) =>
          inboxMessage(id, `msg_b${i}`, eventBody("contact.created", acmeContact("ct_budget", 1))),
        ),
      ),
      counter.env,
    );
    const { counts } = counter;
    expect(counts.durableObjectCalls, describeCounts(counts)).toBe(BATCH);
    expect(counts.kvOperations).toBe(BATCH);
    expect(counts.d1Queries).toBe(0);
    expect(counts.maxInFlightConnections).toBeLessThanOrEqual(WORKER_MAX_OPEN_CONNECTIONS);
    expectWithinBudget(counts, { margin: MARGIN });
    for (const id of connections.slice(0, 3)) {
      const page = await dataOf(id).changesAfter(0, 10);
      expect(page.expired ? [] : page.events.map((e) => e.id)).toHaveLength(1);
    }
  });

  it("100 events of one connection make one object call, and a contact never cached costs no KV write", async () => {
    const connectionId = `${newId("conn")}_budget1`;
    const counter = countOperations(env);
    await handleInboxBatch(
      batchOf(
        Array.from({ length: BATCH }, (_, i) =>
          inboxMessage(
            connectionId,
            `msg_one${i}`,
            eventBody("contact.created", acmeContact(`ct_one${i}`, 1)),
          ),
        ),
      ),
      counter.env,
    );
    expect(counter.counts.durableObjectCalls, describeCounts(counter.counts)).toBe(1);
    expect(counter.counts.kvOperations).toBe(0);
    expectWithinBudget(counter.counts, { margin: MARGIN });
  });

  it("100 poison messages go to the dead letters in one D1 batch of a few statements", async () => {
    const counter = countOperations(env);
    await handleInboxBatch(
      batchOf(Array.from({ length: BATCH }, (_, i) => ({ not: "an inbox message", i }))),
      counter.env,
    );
    expect(counter.counts.d1Calls, describeCounts(counter.counts)).toBe(1);
    expect(counter.counts.d1Queries).toBeLessThanOrEqual(Math.ceil(BATCH / Math.floor(100 / 7)));
    expect(counter.counts.durableObjectCalls).toBe(0);
    expectWithinBudget(counter.counts, { margin: MARGIN });
  });
});

describe("a sync step's budget", { timeout: 120_000 }, () => {
  it("a backfill step over 1,000 contacts, every one cached: its KV invalidations stay within KV_OPS_PER_STEP, so it reads fewer pages", async () => {
    const acmeClient = await createClient();
    const now = new Date().toISOString();
    const ids = Array.from({ length: 1000 }, () => newId("ct"));
    for (let i = 0; i < ids.length; i += 7) {
      const rows = ids.slice(i, i + 7);
      await env.ACME_DB.prepare(
        `INSERT INTO contacts (id, account_id, acme_first_name, acme_last_name, acme_email, email_key, acme_version, acme_created_at, acme_updated_at)
         VALUES ${rows.map(() => "(?, ?, 'B', 'S', ?, ?, 1, ?, ?)").join(", ")}`,
      )
        .bind(
          ...rows.flatMap((id) => {
            const email = uniqueEmail(`bs${id.slice(-6)}`);
            return [id, acmeClient.clientId, email, email.toLowerCase(), now, now];
          }),
        )
        .run();
    }
    // Made before the contacts were marked cached, its own backfill is done; a second one is counted.
    const { connectionId } = await connect(acmeClient);
    await markCached(connectionId, ids);
    await runInDurableObject(
      env.CONNECTION_DATA.get(env.CONNECTION_DATA.idFromName(connectionId)),
      (_, s) => {
        // As if the contacts had changed since the first backfill: every page applies.
        s.storage.sql.exec("UPDATE contact_mirror SET version = 0");
      },
    );
    const job = await dataOf(connectionId).createJob(connectionId, { kind: "backfill", leaseMs: 60_000 });
    const counter = countOperations(env);
    const outcome = await runJobStep(counter.env, inProcess, { jobId: job.id, connectionId });
    expect(outcome.done).toBe(false);
    const { counts } = counter;
    expect(counts.kvOperations, describeCounts(counts)).toBeLessThanOrEqual(KV_OPS_PER_STEP);
    expect(counts.kvOperations).toBeGreaterThan(0);
    expect(counts.maxInFlightConnections).toBeLessThanOrEqual(WORKER_MAX_OPEN_CONNECTIONS);
    expectWithinBudget(counts, { margin: MARGIN });
    const after = await dataOf(connectionId).findJob(job.id);
    // Three pages of 100 (each may cost 200 KV operations) fit in the step's 600; a fourth would not.
    expect(after?.processed).toBe(300);
    expect(counts.kvOperations).toBe(300);
    expect(subrequests(counts)).toBeLessThan(500);
  });

  it("an import step of 100 rows (a chunk), each one a lookup and a write at Acme", async () => {
    const { connectionId } = await newConnection();
    const rows = Array.from({ length: 100 }, (_, i) => ({
      row: i + 1,
      value: { firstName: "I", lastName: String(i), email: uniqueEmail(`ib${i}`) },
    }));
    const job = await dataOf(connectionId).createJob(connectionId, { kind: "import", rows, leaseMs: 60_000 });
    const counter = countOperations(env);
    const restore = counter.countGlobalFetch();
    let outcome: Awaited<ReturnType<typeof runJobStep>>;
    try {
      outcome = await runJobStep(counter.env, inProcess, { jobId: job.id, connectionId });
    } finally {
      restore();
    }
    const { counts } = counter;
    expect((await dataOf(connectionId).findJob(job.id))?.processed, describeCounts(counts)).toBe(100);
    expect(outcome.done).toBe(true);
    expect(counts.d1Queries).toBeLessThan(10);
    expect(counts.maxInFlightConnections).toBeLessThanOrEqual(WORKER_MAX_OPEN_CONNECTIONS);
    expectWithinBudget(counts, { margin: MARGIN });
    expect(loadIntegrationConfig(env).cacheTtlSeconds).toBeGreaterThan(0);
  });
});
