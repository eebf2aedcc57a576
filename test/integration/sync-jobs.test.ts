import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { indexActiveJob } from "../../src/integration/jobs/active-jobs.ts";
import { restartStalledJobs } from "../../src/integration/jobs/cron-tasks.ts";
import type { NewJob } from "../../src/integration/jobs/job-store.ts";
import { startJob } from "../../src/integration/jobs/start-job.ts";
import { acme, acmeContacts, createClient, tokenFor, uniqueEmail } from "../acme/helpers.ts";
import { dataOf, reconcileNow, sqlIn } from "./connection-data-helpers.ts";
import { admin, api, connect, expectProblem, newConnection, type PublicJob, untilJob } from "./helpers.ts";

interface FeedEvent {
  seq: number;
  type: string;
  source: string;
  contact: { id: string; version: number };
}

async function feed(key: string): Promise<FeedEvent[]> {
  const out: FeedEvent[] = [];
  let after = 0;
  for (;;) {
    const res = await api(`/api/v1/events?after=${after}&limit=500`, { key });
    expect(res.status).toBe(200);
    const page = await res.json<{ data: FeedEvent[]; nextAfter: number }>();
    out.push(...page.data);
    if (page.data.length === 0) return out;
    after = page.nextAfter;
  }
}

async function createAtAcme(token: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const res = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: { acme_email: uniqueEmail(`acme${i}`), acme_first_name: `F${i}`, acme_last_name: "L" },
    });
    expect(res.status).toBe(201);
    ids.push((await res.json<{ id: string }>()).id);
  }
  return ids;
}

async function mirrorSize(connectionId: string): Promise<number> {
  const [row] = await sqlIn<{ n: number }>(connectionId, "SELECT COUNT(*) AS n FROM contact_mirror");
  return row?.n ?? 0;
}

/** A job stored in the connection's object and D1's index, but whose Workflow instance was never created. */
async function orphanJob(connectionId: string, input: NewJob) {
  const job = await dataOf(connectionId).createJob(connectionId, input);
  await indexActiveJob(env.DB, { jobId: job.id, connectionId, kind: job.kind, leaseUntil: job.leaseUntil });
  return job;
}

async function jobsOf(key: string): Promise<PublicJob[]> {
  return (await (await api("/api/v1/jobs?limit=100", { key })).json<{ data: PublicJob[] }>()).data;
}

// Accounts of 150+ contacts, built through the in-process Acme, take a while on a shared machine.
describe("backfill and reconciliation jobs", { timeout: 120_000 }, () => {
  it("a new connection backfills all 160 Acme contacts into the mirror and the feed, once, as source backfill", async () => {
    const acmeClient = await createClient();
    const token = await tokenFor(acmeClient);
    const ids = await createAtAcme(token, 160);
    const { apiKey, connectionId } = await connect(acmeClient);

    const [backfill] = await jobsOf(apiKey);
    expect(backfill).toMatchObject({ kind: "backfill", status: "succeeded", total: 160, processed: 160 });
    const events = await feed(apiKey);
    expect(events).toHaveLength(160);
    expect(new Set(events.map((e) => e.contact.id))).toEqual(new Set(ids));
    expect(events.every((e) => e.source === "backfill" && e.type === "contact.created")).toBe(true);
    expect(await mirrorSize(connectionId)).toBe(160);

    // On demand again: it reads everything and adds nothing.
    const res = await admin(`/connections/${connectionId}/backfill`, { method: "POST" });
    expect(res.status).toBe(202);
    const again = await res.json<PublicJob>();
    expect(res.headers.get("location")).toBe(`/api/v1/jobs/${again.id}`);
    expect(await untilJob(apiKey, again.id)).toMatchObject({ status: "succeeded", processed: 160 });
    expect(await feed(apiKey)).toHaveLength(160);
  });

  it("the backfill route takes the admin token, knows its connections, and runs one sync at a time", async () => {
    const { connectionId } = await newConnection();
    await expectProblem(
      await admin(`/connections/${connectionId}/backfill`, { method: "POST", token: null }),
      401,
      "unauthorized",
    );
    await expectProblem(
      await admin(`/connections/${connectionId}/backfill`, { method: "POST", token: "x".repeat(40) }),
      401,
      "unauthorized",
    );
    await expectProblem(await admin("/connections/conn_nope/backfill", { method: "POST" }), 404, "not_found");
    const first = await admin(`/connections/${connectionId}/backfill`, { method: "POST" });
    expect(first.status).toBe(202);
    // Started a moment ago and not yet finished (its first step needs Acme), or already done.
    const second = await admin(`/connections/${connectionId}/backfill`, { method: "POST" });
    expect([202, 409]).toContain(second.status);
    if (second.status === 409) await expectProblem(second, 409, "conflict");
  });

  it("reconciliation heals 120 changes webhooks never delivered, from its checkpoint, and repeats nothing", async () => {
    const acmeClient = await createClient();
    const token = await tokenFor(acmeClient);
    const ids = await createAtAcme(token, 130);
    const { apiKey, connectionId } = await connect(acmeClient);
    expect(await feed(apiKey)).toHaveLength(130);
    // No webhook subscription: these changes reach the feed only through reconciliation.
    for (const id of ids.slice(0, 120)) {
      const res = await acme(`/v1/contacts/${id}`, {
        token,
        method: "PATCH",
        body: { acme_title: "Changed" },
      });
      expect(res.status).toBe(200);
    }
    // The connection's object starts its reconciliation when its alarm finds it due.
    expect(await reconcileNow(connectionId)).toBe(true);
    const mine = (await jobsOf(apiKey)).find((j) => j.kind === "reconcile");
    expect(mine).toBeDefined();
    const done = await untilJob(apiKey, mine?.id as string);
    expect(done.status).toBe("succeeded");
    // It read from the backfill's start (less the overlap): every contact, none skipped.
    expect(done.processed).toBe(130);
    const events = await feed(apiKey);
    const healed = events.filter((e) => e.source === "reconciliation");
    expect(healed).toHaveLength(120);
    expect(healed.every((e) => e.type === "contact.updated" && e.contact.version === 2)).toBe(true);

    expect(await reconcileNow(connectionId)).toBe(true);
    const rerun = (await jobsOf(apiKey)).find((j) => j.kind === "reconcile" && j.id !== mine?.id);
    expect(await untilJob(apiKey, rerun?.id as string)).toMatchObject({ status: "succeeded" });
    expect(await feed(apiKey)).toHaveLength(events.length);
  });

  it("an operator reconciles a connection now: 202 with the job, 409 while it runs, 404 for no such connection; the schedule moves an interval on", async () => {
    const { apiKey, connectionId } = await newConnection();
    const before = Date.now();
    const started = await admin(`/connections/${connectionId}/reconcile`, { method: "POST" });
    expect(started.status).toBe(202);
    const job = await started.json<PublicJob>();
    expect(job).toMatchObject({ kind: "reconcile", status: "queued" });
    expect(started.headers.get("location")).toBe(`/api/v1/jobs/${job.id}`);
    const again = await admin(`/connections/${connectionId}/reconcile`, { method: "POST" });
    if (again.status !== 409) expect((await untilJob(apiKey, job.id)).status).toBe("succeeded");
    else await expectProblem(again, 409, "conflict");
    expect(await untilJob(apiKey, job.id)).toMatchObject({ status: "succeeded" });
    const state = await dataOf(connectionId).reconcileState();
    expect(state.nextAt).toBeGreaterThanOrEqual(before + 299_000);
    expect(state.failure).toBeNull();
    // The API's status shows the same schedule.
    const status = await (await api("/api/v1/status", { key: apiKey })).json<{
      reconciliation: { nextAt: string | null; lastStartedAt: string | null; failure: unknown };
    }>();
    expect(Date.parse(status.reconciliation.nextAt ?? "")).toBe(state.nextAt);
    expect(status.reconciliation.failure).toBeNull();
    await expectProblem(
      await admin("/connections/conn_nope/reconcile", { method: "POST" }),
      404,
      "not_found",
    );
  });

  it("the sweep restarts a job whose instance is gone or stalled; the job ends with every row counted once", async () => {
    const { apiKey, connectionId, acmeClient } = await newConnection();
    const rows = Array.from({ length: 120 }, (_, i) => ({
      row: i + 1,
      value: { firstName: "S", lastName: "W", email: uniqueEmail(`sweep${i}`) },
    }));
    // A job stored and indexed without its instance (as if creating it had failed): only the sweep starts it.
    const orphan = await orphanJob(connectionId, { kind: "import", rows, leaseMs: 1000 });
    const later = Date.now() + 60_000;
    expect((await restartStalledJobs(env, later)).restarted).toContain(orphan.id);
    // Restarted once more while it runs: steps already done are not counted again.
    await untilJob(apiKey, orphan.id, (j) => j.processed > 0 || j.status === "succeeded");
    await sqlIn(connectionId, "UPDATE jobs SET lease_until = 0 WHERE id = ?", orphan.id);
    await env.DB.prepare("UPDATE active_jobs SET lease_until = 0 WHERE job_id = ?").bind(orphan.id).run();
    await restartStalledJobs(env, later);
    const done = await untilJob(apiKey, orphan.id);
    expect(done).toMatchObject({
      status: "succeeded",
      total: 120,
      processed: 120,
      succeeded: 120,
      failed: 0,
    });
    expect(await acmeContacts(await tokenFor(acmeClient))).toHaveLength(120);
  });
  it("a job longer than one instance's iterations goes on in a chain of instances, every row counted once", async () => {
    // The suite runs JOB_ITERATIONS_PER_INSTANCE=2 (vitest.config.ts): five chunks need three instances.
    const { apiKey, connectionId, acmeClient } = await newConnection();
    const rows = Array.from({ length: 450 }, (_, i) => ({
      row: i + 1,
      value: { firstName: "C", lastName: String(i), email: uniqueEmail(`chain${i}`) },
    }));
    const job = await startJob(env, { connectionId, kind: "import", rows });
    const done = await untilJob(apiKey, job.id);
    expect(done).toMatchObject({
      status: "succeeded",
      total: 450,
      processed: 450,
      succeeded: 450,
      failed: 0,
    });
    const row = await dataOf(connectionId).findJob(job.id);
    const generation = Number(/_g(\d+)$/.exec(row?.instanceId ?? "")?.[1] ?? 0);
    expect(generation).toBeGreaterThanOrEqual(2);
    // Every instance of the chain ended; the first handed the job on.
    const first = await env.SYNC_JOBS.get(job.id);
    expect((await first.status()).status).toBe("complete");
    expect((await first.status()).output).toEqual({ done: false, continuedIn: `${job.id}_g1` });
    const last = await env.SYNC_JOBS.get(row?.instanceId as string);
    expect((await last.status()).output).toEqual({ done: true, status: "succeeded" });
    // Acme holds each row once.
    const atAcme = await acmeContacts(await tokenFor(acmeClient));
    expect(new Set(atAcme.map((c) => c.acme_email)).size).toBe(450);
    expect(atAcme).toHaveLength(450);
  });

  it("the sweep restarts the instance a job was handed on to, not the first", async () => {
    const { connectionId } = await newConnection();
    const orphan = await orphanJob(connectionId, { kind: "backfill", leaseMs: 1000 });
    // As if handed on to generation 3 whose creation was lost: the sweep creates that one.
    await dataOf(connectionId).setJobInstance(orphan.id, `${orphan.id}_g3`);
    expect((await restartStalledJobs(env, Date.now() + 60_000)).restarted).toContain(orphan.id);
    const instance = await env.SYNC_JOBS.get(`${orphan.id}_g3`);
    expect(["queued", "running", "complete"]).toContain((await instance.status()).status);
    await expect(env.SYNC_JOBS.get(orphan.id)).rejects.toThrow();
  });
});
