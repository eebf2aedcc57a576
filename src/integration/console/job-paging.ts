import { JOB_KINDS, JOB_STATUSES, type JobKind, type JobStatus } from "../connection-data/schema.ts";
import { connectionData } from "../connection-data/stub.ts";
import type { RowError } from "../jobs/import-row.ts";
import { type PublicJob, toPublicJob } from "../jobs/job-store.ts";
import { ConsoleError } from "./errors.tsx";
import { choice } from "./filters.ts";
import { keysetPage } from "./paging.ts";

/** Jobs are listed this many to a page, newest first. */
export const JOBS_PAGE_SIZE = 20;
/** A job's failed rows are listed this many to a page, in row order. */
export const JOB_ERRORS_PAGE_SIZE = 50;

/** Which of a connection's jobs a jobs page lists (each one left out: any). */
export interface JobFilter {
  kind?: JobKind | undefined;
  status?: JobStatus | undefined;
}

/** The jobs filter of a request's `kind` and `status` queries. Throws ConsoleError 400 for an unknown one. */
export function jobFilter(query: { kind?: string | undefined; status?: string | undefined }): JobFilter {
  return {
    kind: choice(query.kind, JOB_KINDS, "job kind"),
    status: choice(query.status, JOB_STATUSES, "job status"),
  };
}

/**
 * A page of a connection's jobs older than the job `before` (newest first) that `filter` keeps,
 * and the next page's cursor.
 */
export async function jobsPage(
  env: Env,
  connectionId: string,
  before: string | undefined,
  filter: JobFilter = {},
): Promise<{ data: PublicJob[]; next: string | null }> {
  const rows = await connectionData(env, connectionId).listJobs({
    limit: JOBS_PAGE_SIZE + 1,
    before,
    kind: filter.kind,
    status: filter.status,
  });
  const now = Date.now();
  return keysetPage(
    rows.map((row) => toPublicJob(row, now)),
    JOBS_PAGE_SIZE,
    (job) => job.id,
  );
}

/** A page of a job's failed rows after row `after` (in row order), and the next page's cursor. */
export async function jobErrorsPage(
  env: Env,
  connectionId: string,
  jobId: string,
  after: number,
): Promise<{ data: RowError[]; next: number | null }> {
  const rows = await connectionData(env, connectionId).jobErrors(jobId, {
    after,
    limit: JOB_ERRORS_PAGE_SIZE + 1,
  });
  return keysetPage(rows, JOB_ERRORS_PAGE_SIZE, (e) => e.row);
}

/**
 * The `before` query of a jobs page: a job id, or undefined when absent. Throws ConsoleError 400
 * for anything else.
 */
export function jobCursor(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^job_[a-z0-9]+$/.test(value) || value.length > 64) {
    throw new ConsoleError(400, "The page position is not a job id.");
  }
  return value;
}

/**
 * The `after` query of a failed-rows page: a row number, or 0 when absent. Throws ConsoleError 400
 * for anything else.
 */
export function errorCursor(value: string | undefined): number {
  if (value === undefined || value === "") return 0;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ConsoleError(400, "The row position must be a whole number.");
  return n;
}
