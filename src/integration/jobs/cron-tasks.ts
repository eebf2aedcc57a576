import { errorFields, log } from "../../lib/logger.ts";
import { loadJobConfig } from "./config.ts";
import { activeJob, expiredJobs, extendLease } from "./job-store.ts";
import { allConnections, reconcileSince } from "./reconciliation.ts";
import { currentInstance, startJob } from "./start-job.ts";

/**
 * Restarts the Workflow instance of every active job whose row has not moved within its lease
 * (an instance lost with its process, or never started). Steps are idempotent against the job's
 * checkpoint, so a restart repeats no effect. The lease is extended first, so the next sweep
 * leaves the job alone while it catches up.
 */
export async function restartStalledJobs(env: Env, now = Date.now()): Promise<{ restarted: string[] }> {
  const { leaseMs } = loadJobConfig(env);
  const restarted: string[] = [];
  for (const job of await expiredJobs(env.DB, now)) {
    await extendLease(env.DB, job.id, now + leaseMs);
    const current = currentInstance(job);
    try {
      const instance = await env.SYNC_JOBS.get(current.id);
      await instance.restart();
    } catch (error) {
      // No such instance (its creation failed after the row was stored): start it now.
      log("warn", "job instance missing; creating it", {
        jobId: job.id,
        instanceId: current.id,
        ...errorFields(error),
      });
      await env.SYNC_JOBS.create(current);
    }
    restarted.push(job.id);
  }
  return { restarted };
}

/**
 * Starts a reconcile job for each connection that has no backfill or reconciliation running: it
 * reads Acme's changes since the connection's checkpoint (less an overlap) and heals what
 * webhooks missed.
 */
export async function startReconciliations(env: Env): Promise<{ started: string[] }> {
  const started: string[] = [];
  for (const connection of await allConnections(env.DB)) {
    try {
      if (await activeJob(env.DB, connection.id, ["backfill", "reconcile"])) continue;
      const job = await startJob(env, {
        connectionId: connection.id,
        kind: "reconcile",
        updatedSince: reconcileSince(connection),
      });
      started.push(job.id);
    } catch (error) {
      log("warn", "reconciliation could not start for a connection", {
        connectionId: connection.id,
        ...errorFields(error),
      });
    }
  }
  return { started };
}
