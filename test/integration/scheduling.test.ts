import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadConnectionDataConfig } from "../../src/integration/connection-data/config.ts";
import type { ConnectionData } from "../../src/integration/connection-data/connection-data.ts";
import { connectionData } from "../../src/integration/connection-data/stub.ts";
import { indexActiveJob } from "../../src/integration/jobs/active-jobs.ts";
import {
  OVERDUE_PAGE,
  restartStalledJobs,
  SWEEP_PAGE,
  scheduleOverdueReconciliations,
} from "../../src/integration/jobs/cron-tasks.ts";
import type { SyncJobParams } from "../../src/integration/jobs/start-job.ts";
import { newId } from "../../src/lib/ids.ts";
import { countOperations, describeCounts, expectWithinBudget } from "../budget/count-operations.ts";

// Scheduling at the scale of a deployment: 1,000 connections, each with its own object whose alarm
// starts its reconciliation, and the cron's sweep as the net under lost schedules. The Workflow
// binding the objects start jobs with is recorded rather than run here (1,000 instances at once
// would only test the local Workflows engine); that they run is tested in sync-jobs.test.ts.

const CONNECTIONS = 1000;
const intervalMs = loadConnectionDataConfig(env).reconcileIntervalSeconds * 1000;

/** Connections as the directory holds them, made directly (each with a unique id), last reconciled long ago. */
async function directory(count: number, label: string): Promise<string[]> {
  const ids = Array.from({ length: count }, () => `${newId("conn")}_${label}`);
  const longAgo = new Date(Date.now() - 30 * intervalMs).toISOString();
  for (let i = 0; i < ids.length; i += 10) {
    const rows = ids.slice(i, i + 10);
    await env.DB.prepare(
      `INSERT INTO connections (id, name, acme_client_id, acme_client_secret_enc, reconciled_through, created_at)
       VALUES ${rows.map(() => "(?, 'scale', 'cl_scale', 'sealed', ?, ?)").join(", ")}`,
    )
      .bind(...rows.flatMap((id) => [id, longAgo, longAgo]))
      .run();
  }
  return ids;
}

/**
 * Runs the object's alarm (made due first when `due`) with a Workflow binding that records the
 * instances it is asked to create. Returns whether an alarm was set before it ran.
 */
async function runAlarm(
  connectionId: string,
  created: SyncJobParams[],
  options: { due?: boolean } = {},
): Promise<boolean> {
  const stub = env.CONNECTION_DATA.get(env.CONNECTION_DATA.idFromName(connectionId));
  return runInDurableObject(stub, async (instance: ConnectionData, state) => {
    const armed = (await state.storage.getAlarm()) !== null;
    if (options.due) {
      state.storage.sql.exec(
        "UPDATE meta SET value = json_set(value, '$.nextAt', 0) WHERE key = 'reconcile_schedule'",
      );
    }
    const recording = Object.create(env, {
      SYNC_JOBS: {
        value: {
          create: async (options: { id: string; params: SyncJobParams }) => {
            created.push(options.params);
            return { id: options.id };
          },
        },
      },
    }) as Env;
    (instance as unknown as { env: Env }).env = recording;
    try {
      await instance.alarm();
    } finally {
      (instance as unknown as { env: Env }).env = env;
    }
    return armed;
  });
}

/**
 * Gives each listed connection's object a schedule due a day from now and no alarm (as if its
 * alarm were lost), so nothing fires by itself: the test runs each alarm when it chooses.
 */
async function loseAlarms(ids: string[]): Promise<void> {
  const state = JSON.stringify({ nextAt: Date.now() + 86_400_000, lastStartedAt: null, failure: null });
  for (const id of ids) {
    await runInDurableObject(env.CONNECTION_DATA.get(env.CONNECTION_DATA.idFromName(id)), async (_, s) => {
      s.storage.sql.exec(
        "INSERT INTO meta (key, value) VALUES ('reconcile_schedule', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1",
        state,
      );
      await s.storage.deleteAlarm();
    });
  }
}

/** Makes every listed connection's reconciliation due, as if its interval had passed. */
async function makeDue(ids: string[]): Promise<void> {
  for (const id of ids) {
    await runInDurableObject(env.CONNECTION_DATA.get(env.CONNECTION_DATA.idFromName(id)), (_, state) => {
      state.storage.sql.exec(
        "UPDATE meta SET value = json_set(value, '$.nextAt', 0) WHERE key = 'reconcile_schedule'",
      );
    });
  }
}

async function cleanUp(ids: string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 50) {
    const batch = ids.slice(i, i + 50);
    await env.DB.prepare(`DELETE FROM active_jobs WHERE connection_id IN (SELECT value FROM json_each(?))`)
      .bind(JSON.stringify(batch))
      .run();
    await env.DB.prepare(`DELETE FROM connections WHERE id IN (SELECT value FROM json_each(?))`)
      .bind(JSON.stringify(batch))
      .run();
  }
}

describe("the stalled-job sweep", () => {
  it("a full page of 100 index entries whose jobs are gone: one call to each object and one D1 write each, within budget", async () => {
    const connections = Array.from({ length: SWEEP_PAGE }, () => `${newId("conn")}_sweep`);
    for (const connectionId of connections) {
      await indexActiveJob(env.DB, { jobId: newId("job"), connectionId, kind: "import", leaseUntil: 0 });
    }
    const counter = countOperations(env);
    await restartStalledJobs(counter.env, Date.now());
    const { counts } = counter;
    expect(counts.durableObjectCalls, describeCounts(counts)).toBeGreaterThanOrEqual(SWEEP_PAGE);
    expect(counts.durableObjectCalls).toBeLessThanOrEqual(SWEEP_PAGE);
    expect(counts.d1Queries).toBeLessThanOrEqual(1 + SWEEP_PAGE);
    expectWithinBudget(counts, { margin: 0.5 });
    const left = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM active_jobs WHERE connection_id IN (SELECT value FROM json_each(?))",
    )
      .bind(JSON.stringify(connections))
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
  });
});

describe("scheduling reconciliations for 1,000 connections", { timeout: 240_000 }, () => {
  it("the cron reaches every overdue connection within five runs, and each object's alarm starts the reconciliation that is due", async () => {
    const ids = await directory(CONNECTIONS, "sched");
    try {
      // Every object's alarm is lost: only the sweep can set them again.
      await loseAlarms(ids);
      const poked = new Set<string>();
      const runs = Math.ceil(CONNECTIONS / OVERDUE_PAGE);
      const now = Date.now();
      for (let run = 0; run < runs; run++) {
        const counter = countOperations(env);
        const result = await scheduleOverdueReconciliations(counter.env, now + run * 1000);
        // One D1 statement and one call per connection's object, whatever the directory's size.
        expect(counter.counts.d1Queries, describeCounts(counter.counts)).toBe(1);
        expect(counter.counts.durableObjectCalls).toBe(result.poked.length);
        expectWithinBudget(counter.counts, { margin: 0.5 });
        const mine = result.poked.filter((id) => id.endsWith("_sched"));
        expect(result.poked.length).toBeLessThanOrEqual(OVERDUE_PAGE);
        for (const id of mine) poked.add(id);
      }
      expect(poked.size).toBe(CONNECTIONS);
      // When due, each object's alarm (set again by the sweep) starts one reconciliation, stored
      // in its object and in D1's index.
      const created: SyncJobParams[] = [];
      let armed = 0;
      for (const id of ids) {
        if (await runAlarm(id, created, { due: true })) armed += 1;
      }
      expect(armed).toBe(CONNECTIONS);
      expect(created.map((p) => p.connectionId).toSorted()).toEqual(ids.toSorted());
      const indexed = await env.DB.prepare(
        "SELECT COUNT(*) AS n FROM active_jobs WHERE kind = 'reconcile' AND connection_id LIKE '%_sched'",
      ).first<{ n: number }>();
      expect(indexed?.n).toBe(CONNECTIONS);
      const sample = ids[Math.floor(CONNECTIONS / 2)] as string;
      const active = await connectionData(env, sample).activeJob(["reconcile"]);
      expect(active).toMatchObject({ kind: "reconcile", status: "queued" });
      expect((await connectionData(env, sample).reconcileState()).nextAt).toBeGreaterThan(Date.now());

      // Due again while that reconciliation is still active: nothing new starts, and nothing is
      // recorded as a failure (the running one covers it).
      await makeDue(ids.slice(0, 50));
      const again: SyncJobParams[] = [];
      for (const id of ids.slice(0, 50)) await runAlarm(id, again);
      expect(again).toEqual([]);
      expect((await connectionData(env, sample).reconcileState()).failure).toBeNull();
    } finally {
      await cleanUp(ids);
    }
  });

  it("a reconciliation that cannot start is recorded, shown as overdue and failing to the sweep, and retried with backoff", async () => {
    const [id] = await directory(1, "fail");
    const connectionId = id as string;
    try {
      await loseAlarms([connectionId]);
      await connectionData(env, connectionId).ensureScheduled(connectionId);
      await makeDue([connectionId]);
      const stub = env.CONNECTION_DATA.get(env.CONNECTION_DATA.idFromName(connectionId));
      // D1's index refuses the job: the start fails, visibly.
      await env.DB.prepare(
        `CREATE TRIGGER IF NOT EXISTS refuse_index_${connectionId.slice(5, 20)} BEFORE INSERT ON active_jobs
         WHEN NEW.connection_id = '${connectionId}' BEGIN SELECT RAISE(ABORT, 'index refused'); END`,
      ).run();
      const created: SyncJobParams[] = [];
      const before = Date.now();
      await runAlarm(connectionId, created);
      const state = await connectionData(env, connectionId).reconcileState();
      expect(state.failure).toMatchObject({ attempts: 1 });
      expect(state.failure?.message).toContain("active_jobs");
      expect(state.nextAt).toBeGreaterThanOrEqual(before + 10_000);
      expect(state.nextAt).toBeLessThan(before + intervalMs);
      const alarm = await runInDurableObject(stub, (_, s) => s.storage.getAlarm());
      expect(alarm).toBe(state.nextAt);
      // The job it stored is ended, not left queued with nothing to run it.
      expect(await connectionData(env, connectionId).activeJob(["reconcile"])).toBeNull();
      // The sweep reports it as failing (its first page holds it: it was never checked).
      await runInDurableObject(stub, (_, s) => s.storage.deleteAlarm());
      const swept = await scheduleOverdueReconciliations(env);
      expect(swept.poked).toContain(connectionId);
      expect(swept.failing).toContain(connectionId);

      // Fixed: the next attempt starts it and clears the failure.
      await env.DB.prepare(`DROP TRIGGER IF EXISTS refuse_index_${connectionId.slice(5, 20)}`).run();
      await makeDue([connectionId]);
      await runAlarm(connectionId, created);
      expect(created.map((p) => p.connectionId)).toEqual([connectionId]);
      expect((await connectionData(env, connectionId).reconcileState()).failure).toBeNull();
    } finally {
      await cleanUp([connectionId]);
    }
  });
});
