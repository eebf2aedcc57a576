import type { JobRow } from "../db/schema.ts";
import { loadJobConfig } from "./config.ts";
import { createJob, type NewJob } from "./job-store.ts";

/** What a sync job's Workflow instance is given: only the job's id; everything else is in D1. */
export interface SyncJobParams {
  jobId: string;
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
