import type { JobRow } from "../db/schema.ts";
import { loadJobConfig } from "./config.ts";
import { createJob, type NewJob, setJobInstance } from "./job-store.ts";

/** What a sync job's Workflow instance is given: the job's id (everything else is in D1), and its place in the job's chain of instances (0 for the first). */
export interface SyncJobParams {
  jobId: string;
  generation?: number;
}

/** The id of a job's Workflow instance: the job's own for the first, `<job id>_g<n>` after. */
export function instanceIdFor(jobId: string, generation: number): string {
  return generation === 0 ? jobId : `${jobId}_g${generation}`;
}

/** The instance that runs `job` now, and the params it was (or is to be) created with. */
export function currentInstance(job: JobRow): { id: string; params: SyncJobParams } {
  const id = job.instanceId ?? job.id;
  const generation = Number(/_g(\d+)$/.exec(id)?.[1] ?? 0);
  return { id, params: { jobId: job.id, generation } };
}

/**
 * Stores a queued job and starts its Workflow instance (same id). Should the instance not start,
 * the row stays queued with its lease, and the cron sweep starts it.
 */
export async function startJob(env: Env, input: Omit<NewJob, "leaseMs">): Promise<JobRow> {
  const row = await createJob(env.DB, { ...input, leaseMs: loadJobConfig(env).leaseMs });
  await env.SYNC_JOBS.create({ id: row.id, params: { jobId: row.id } satisfies SyncJobParams });
  return row;
}

/**
 * Hands a job on to a fresh Workflow instance of the given generation and records it on the job
 * row, for an instance near Workflows' per-instance step limit. Idempotent: run again (a retried
 * step), it finds the instance already there. Throws what `create` threw if the instance neither
 * could be created nor exists.
 */
export async function continueJob(env: Env, jobId: string, generation: number): Promise<string> {
  const id = instanceIdFor(jobId, generation);
  try {
    await env.SYNC_JOBS.create({ id, params: { jobId, generation } satisfies SyncJobParams });
  } catch (error) {
    const exists = await env.SYNC_JOBS.get(id).then(
      () => true,
      () => false,
    );
    if (!exists) throw error;
  }
  await setJobInstance(env.DB, jobId, id);
  return id;
}
