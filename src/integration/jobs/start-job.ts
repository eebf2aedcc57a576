import { errorFields, log } from "../../lib/logger.ts";
import type { JobKind, JobRow } from "../connection-data/schema.ts";
import { connectionData } from "../connection-data/stub.ts";
import { findConnection } from "../connections/connection-store.ts";
import { indexActiveJob } from "./active-jobs.ts";
import { loadJobConfig } from "./config.ts";
import type { NewJob } from "./job-store.ts";
import { reconcileSince } from "./reconciliation.ts";

/**
 * What a sync job's Workflow instance is given: the job's id and its connection's (everything else
 * is in the connection's `ConnectionData` object), and its place in the job's chain of instances
 * (0 for the first).
 */
export interface SyncJobParams {
  jobId: string;
  connectionId: string;
  generation?: number;
}

/** The id of a job's Workflow instance: the job's own for the first, `<job id>_g<n>` after. */
export function instanceIdFor(jobId: string, generation: number): string {
  return generation === 0 ? jobId : `${jobId}_g${generation}`;
}

/** The instance that runs `job` now, and the params it was (or is to be) created with. */
export function currentInstance(job: JobRow, connectionId: string): { id: string; params: SyncJobParams } {
  const id = job.instanceId ?? job.id;
  const generation = Number(/_g(\d+)$/.exec(id)?.[1] ?? 0);
  return { id, params: { jobId: job.id, connectionId, generation } };
}

/**
 * Puts a stored job into D1's index of active jobs and starts its Workflow instance (same id).
 * Should the instance not start, the job stays queued with its lease and the cron sweep starts
 * it. Throws when the index could not be written (the caller ends the job: nothing would run it).
 */
async function launchJob(env: Env, connectionId: string, row: JobRow): Promise<void> {
  await indexActiveJob(env.DB, { jobId: row.id, connectionId, kind: row.kind, leaseUntil: row.leaseUntil });
  try {
    await env.SYNC_JOBS.create({
      id: row.id,
      params: { jobId: row.id, connectionId } satisfies SyncJobParams,
    });
  } catch (error) {
    log("warn", "job instance not created; the sweep will start it", {
      jobId: row.id,
      connectionId,
      ...errorFields(error),
    });
  }
}

/**
 * Stores a queued job in the connection's object, indexes it and starts its Workflow instance.
 * Throws what the object or D1 threw; a job stored but not indexed is ended as failed first.
 */
export async function startJob(
  env: Env,
  input: Omit<NewJob, "leaseMs"> & { connectionId: string },
): Promise<JobRow> {
  const { connectionId, ...job } = input;
  const data = connectionData(env, connectionId);
  const row = await data.createJob(connectionId, { ...job, leaseMs: loadJobConfig(env).leaseMs });
  try {
    await launchJob(env, connectionId, row);
  } catch (error) {
    await data.finishJob(row.id, "failed", new Date(), "The job could not be started.");
    throw error;
  }
  return row;
}

/** How the connection's object lets `startReconcileJob` see and store its jobs, from inside it. */
export interface LocalJobs {
  active(kinds: JobKind[]): JobRow | null;
  create(input: NewJob): JobRow;
  abandon(jobId: string, reason: string): void;
}

/**
 * Starts the connection's reconciliation from inside its `ConnectionData` object (its alarm),
 * unless a backfill or a reconciliation is already active. Returns false when the connection no
 * longer exists, true otherwise. Throws when the job could not be started (the object records it
 * and retries).
 */
export async function startReconcileJob(env: Env, connectionId: string, jobs: LocalJobs): Promise<boolean> {
  const connection = await findConnection(env.DB, connectionId);
  if (!connection) return false;
  if (jobs.active(["backfill", "reconcile"])) return true;
  const row = jobs.create({
    kind: "reconcile",
    updatedSince: reconcileSince(connection),
    leaseMs: loadJobConfig(env).leaseMs,
  });
  try {
    await launchJob(env, connectionId, row);
  } catch (error) {
    jobs.abandon(row.id, "The reconciliation could not be started.");
    throw error;
  }
  return true;
}

/**
 * Hands a job on to a fresh Workflow instance of the given generation and records it on the job,
 * for an instance near Workflows' per-instance step limit. Idempotent: run again (a retried
 * step), it finds the instance already there. Throws what `create` threw if the instance neither
 * could be created nor exists.
 */
export async function continueJob(
  env: Env,
  connectionId: string,
  jobId: string,
  generation: number,
): Promise<string> {
  const id = instanceIdFor(jobId, generation);
  try {
    await env.SYNC_JOBS.create({ id, params: { jobId, connectionId, generation } satisfies SyncJobParams });
  } catch (error) {
    const exists = await env.SYNC_JOBS.get(id).then(
      () => true,
      () => false,
    );
    if (!exists) throw error;
  }
  await connectionData(env, connectionId).setJobInstance(jobId, id);
  return id;
}
