import { errorFields, log } from "../../lib/logger.ts";
import { loadConnectionDataConfig } from "../connection-data/config.ts";
import { connectionData } from "../connection-data/stub.ts";
import { expiredIndexEntries, setIndexedLease, unindexJob } from "./active-jobs.ts";
import { loadJobConfig } from "./config.ts";
import { takeOverdueConnections } from "./reconciliation.ts";
import { currentInstance } from "./start-job.ts";

/**
 * Index entries one sweep looks at: each costs at most one D1 write, one call to the connection's
 * object and two Workflow calls, so a sweep stays far inside an invocation's 1,000 subrequests
 * and 1,000 D1 queries. More wait for the next run (every 5 minutes).
 */
export const SWEEP_PAGE = 100;

/** Overdue connections one run pokes (one subrequest each); see `scheduleOverdueReconciliations`. */
export const OVERDUE_PAGE = 200;

/**
 * Restarts the Workflow instance of every active job whose lease ran out (an instance lost with
 * its process, or never started), one page of D1's index per run. The connection's object decides
 * (its lease is the job's true one, moved forward as it restarts it, so a restart happens once);
 * an entry whose job ended or is gone leaves the index. Steps are idempotent against the job's
 * checkpoint, so a restart repeats no effect.
 */
export async function restartStalledJobs(env: Env, now = Date.now()): Promise<{ restarted: string[] }> {
  const { leaseMs } = loadJobConfig(env);
  const restarted: string[] = [];
  for (const entry of await expiredIndexEntries(env.DB, now, SWEEP_PAGE)) {
    try {
      const swept = await connectionData(env, entry.connectionId).sweepJob(entry.jobId, now, leaseMs);
      if (swept.state === "gone" || swept.state === "finished" || !swept.job) {
        await unindexJob(env.DB, entry.jobId);
        continue;
      }
      await setIndexedLease(env.DB, entry.jobId, swept.leaseUntil);
      if (swept.state === "alive") continue;
      const current = currentInstance(swept.job, entry.connectionId);
      try {
        const instance = await env.SYNC_JOBS.get(current.id);
        await instance.restart();
      } catch (error) {
        // No such instance (its creation failed after the job was stored): start it now.
        log("warn", "job instance missing; creating it", {
          jobId: entry.jobId,
          instanceId: current.id,
          ...errorFields(error),
        });
        await env.SYNC_JOBS.create(current);
      }
      restarted.push(entry.jobId);
    } catch (error) {
      log("warn", "stalled job not restarted; the next sweep tries again", {
        jobId: entry.jobId,
        connectionId: entry.connectionId,
        ...errorFields(error),
      });
    }
  }
  return { restarted };
}

/**
 * The safety net under each connection's own schedule (its object's alarm starts its
 * reconciliations): connections whose last reconciliation is more than three intervals old get
 * their object's schedule checked, at most OVERDUE_PAGE per run, those checked longest ago first (so
 * every overdue connection is reached in turn: 1,000 within five runs). Returns the connections poked
 * and those whose object reports a failure to start (also logged).
 */
export async function scheduleOverdueReconciliations(
  env: Env,
  now = Date.now(),
): Promise<{ poked: string[]; failing: string[] }> {
  const intervalMs = loadConnectionDataConfig(env).reconcileIntervalSeconds * 1000;
  const before = new Date(now - 3 * intervalMs).toISOString();
  const poked: string[] = [];
  const failing: string[] = [];
  for (const id of await takeOverdueConnections(env.DB, before, OVERDUE_PAGE, new Date(now))) {
    try {
      const state = await connectionData(env, id).ensureScheduled(id);
      poked.push(id);
      if (state.failure) {
        failing.push(id);
        log("warn", "reconciliation overdue and failing to start", {
          connectionId: id,
          attempts: state.failure.attempts,
          reason: state.failure.message,
        });
      }
    } catch (error) {
      log("warn", "overdue connection's schedule not checked", { connectionId: id, ...errorFields(error) });
    }
  }
  return { poked, failing };
}

/** Dead letters one run deletes at most (one D1 statement); more wait for the next run. */
export const DEAD_LETTER_PRUNE_PAGE = 1000;

/**
 * Deletes dead letters that arrived more than DEAD_LETTER_RETENTION_SECONDS before `now`, oldest
 * first, at most DEAD_LETTER_PRUNE_PAGE per run, in one D1 statement. Returns how many.
 */
export async function pruneDeadLetters(env: Env, now = Date.now()): Promise<{ deleted: number }> {
  const { deadLetterRetentionSeconds } = loadConnectionDataConfig(env);
  const before = new Date(now - deadLetterRetentionSeconds * 1000).toISOString();
  const { results } = await env.DB.prepare(
    `DELETE FROM dead_letters WHERE id IN (
       SELECT id FROM dead_letters WHERE received_at < ? ORDER BY received_at LIMIT ?)
     RETURNING id`,
  )
    .bind(before, DEAD_LETTER_PRUNE_PAGE)
    .all<{ id: string }>();
  return { deleted: results.length };
}
