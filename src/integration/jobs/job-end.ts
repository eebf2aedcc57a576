import { errorFields, log } from "../../lib/logger.ts";
import type { JobStatus } from "../connection-data/schema.ts";
import type { connectionData } from "../connection-data/stub.ts";
import { unindexJob } from "./active-jobs.ts";
import type { FinishedStatus } from "./job-store.ts";

/**
 * Ends the job in its connection's object (see `JobStore.finish`) and takes it out of D1's index
 * of active jobs. Returns the status the job is in now (the one it ended in, or the one it had
 * already ended in). An index entry left by a failed delete is removed by the next sweep.
 */
export async function endJob(
  context: { env: Env; data: ReturnType<typeof connectionData>; job: { id: string } },
  requested: FinishedStatus,
  failure: string | null = null,
): Promise<JobStatus> {
  const { env, data, job } = context;
  const status =
    (await data.finishJob(job.id, requested, new Date(), failure)) ?? (await data.findJob(job.id))?.status;
  try {
    await unindexJob(env.DB, job.id);
  } catch (error) {
    log("warn", "ended job left in the index; the sweep removes it", {
      jobId: job.id,
      ...errorFields(error),
    });
  }
  return status ?? requested;
}
