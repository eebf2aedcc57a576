import { and, asc, desc, eq, gt, inArray, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { chunkForStatement } from "../../lib/d1-limits.ts";
import { newId } from "../../lib/ids.ts";
import { type JobKind, type JobRow, type JobStatus, jobChunks, jobErrors, jobs } from "../db/schema.ts";
import type { RawRow } from "./import-parser.ts";
import type { RowError } from "./import-row.ts";

/** Statuses a job can still leave. */
export const ACTIVE_STATUSES: JobStatus[] = ["queued", "running"];

/** A job as the API shows it. Times are ISO 8601; `etaSeconds` is null while unknown. */
export interface PublicJob {
  id: string;
  kind: JobKind;
  status: JobStatus;
  total: number | null;
  processed: number;
  succeeded: number;
  failed: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  etaSeconds: number | null;
}

/**
 * The job's public shape. `etaSeconds` extrapolates the rate so far (rows per second since the
 * job started) over the rows left; unknown before the first row or without a known total.
 */
export function toPublicJob(row: JobRow, now = Date.now()): PublicJob {
  let etaSeconds: number | null = null;
  if (row.status === "running" && row.total !== null && row.startedAt && row.processed > 0) {
    const elapsedMs = Math.max(1, now - Date.parse(row.startedAt));
    etaSeconds = Math.ceil(((row.total - row.processed) * elapsedMs) / row.processed / 1000);
  } else if (row.status === "succeeded" || row.status === "failed" || row.status === "cancelled") {
    etaSeconds = 0;
  }
  return {
    id: row.id,
    kind: row.kind,
    status: row.status,
    total: row.total,
    processed: row.processed,
    succeeded: row.succeeded,
    failed: row.failed,
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    etaSeconds,
  };
}

/** An import's rows cut into chunks: at most this many rows, and at most this many bytes of JSON. */
export const CHUNK_ROWS = 100;
const CHUNK_BYTES = 256 * 1024;

/** Cuts rows into chunks of at most CHUNK_ROWS rows and about CHUNK_BYTES of JSON each. */
export function chunkRows(rows: RawRow[]): RawRow[][] {
  const out: RawRow[][] = [];
  let current: RawRow[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = JSON.stringify(row).length;
    if (current.length > 0 && (current.length >= CHUNK_ROWS || bytes + size > CHUNK_BYTES)) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(row);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

export interface NewJob {
  connectionId: string;
  kind: JobKind;
  /** Import rows; they are stored in chunks with the job. */
  rows?: RawRow[];
  updatedSince?: string | null;
  leaseMs: number;
}

/** Stores a queued job (and an import's rows, chunked within D1's parameter limit) in one batch. */
export async function createJob(db: D1Database, input: NewJob, now = new Date()): Promise<JobRow> {
  const chunks = input.rows ? chunkRows(input.rows) : [];
  const row: JobRow = {
    id: newId("job"),
    connectionId: input.connectionId,
    kind: input.kind,
    status: "queued",
    total: input.rows ? input.rows.length : null,
    processed: 0,
    succeeded: 0,
    failed: 0,
    chunks: chunks.length,
    checkpoint: null,
    updatedSince: input.updatedSince ?? null,
    cancelRequested: false,
    failure: null,
    createdAt: now.toISOString(),
    startedAt: null,
    finishedAt: null,
    leaseUntil: now.getTime() + input.leaseMs,
    instanceId: null,
  };
  const d = drizzle(db);
  const chunkValues = chunks.map((rows, index) => ({
    jobId: row.id,
    chunk: index,
    firstRow: rows[0]?.row ?? 1,
    rows: JSON.stringify(rows),
  }));
  const inserts = chunkForStatement(chunkValues, { perItem: 4 }).map((values) =>
    d.insert(jobChunks).values(values),
  );
  await d.batch([d.insert(jobs).values(row), ...inserts]);
  return row;
}

/** The connection's job, or null (another connection's job is as good as absent). */
export async function findJob(db: D1Database, connectionId: string, id: string): Promise<JobRow | null> {
  const row = await drizzle(db)
    .select()
    .from(jobs)
    .where(and(eq(jobs.id, id), eq(jobs.connectionId, connectionId)))
    .get();
  return row ?? null;
}

export async function loadJob(db: D1Database, id: string): Promise<JobRow | null> {
  return (await drizzle(db).select().from(jobs).where(eq(jobs.id, id)).get()) ?? null;
}

/** Newest first; `before` is the last id of the previous page. */
export async function listJobs(
  db: D1Database,
  connectionId: string,
  page: { limit: number; before?: string | undefined },
): Promise<JobRow[]> {
  return drizzle(db)
    .select()
    .from(jobs)
    .where(and(eq(jobs.connectionId, connectionId), page.before ? lt(jobs.id, page.before) : undefined))
    .orderBy(desc(jobs.id))
    .limit(page.limit);
}

/** An active job of these kinds for the connection, if any. */
export async function activeJob(
  db: D1Database,
  connectionId: string,
  kinds: JobKind[],
): Promise<JobRow | null> {
  const row = await drizzle(db)
    .select()
    .from(jobs)
    .where(
      and(
        eq(jobs.connectionId, connectionId),
        inArray(jobs.kind, kinds),
        inArray(jobs.status, ACTIVE_STATUSES),
      ),
    )
    .get();
  return row ?? null;
}

/** Asks an active job to stop after its step in flight; false if it had already finished. */
export async function requestCancel(db: D1Database, id: string): Promise<boolean> {
  const updated = await drizzle(db)
    .update(jobs)
    .set({ cancelRequested: true })
    .where(and(eq(jobs.id, id), inArray(jobs.status, ACTIVE_STATUSES)))
    .returning({ id: jobs.id });
  return updated.length > 0;
}

/** Per-row errors after row `after`, in row order. */
export async function listJobErrors(
  db: D1Database,
  jobId: string,
  page: { after: number; limit: number },
): Promise<RowError[]> {
  const rows = await drizzle(db)
    .select()
    .from(jobErrors)
    .where(and(eq(jobErrors.jobId, jobId), gt(jobErrors.row, page.after)))
    .orderBy(asc(jobErrors.row))
    .limit(page.limit);
  return rows.map((r) => ({ row: r.row, email: r.email, code: r.code, errors: JSON.parse(r.errors) }));
}

/** queued → running, once; later steps find it running already. */
export async function markRunning(db: D1Database, id: string, now: Date): Promise<void> {
  await drizzle(db)
    .update(jobs)
    .set({ status: "running", startedAt: now.toISOString() })
    .where(and(eq(jobs.id, id), eq(jobs.status, "queued")));
}

/** The chunk holding row `row` of an import. */
export async function loadChunkAt(
  db: D1Database,
  jobId: string,
  row: number,
): Promise<{ firstRow: number; rows: RawRow[] } | null> {
  const found = await drizzle(db)
    .select()
    .from(jobChunks)
    .where(and(eq(jobChunks.jobId, jobId), lt(jobChunks.firstRow, row + 1)))
    .orderBy(desc(jobChunks.firstRow))
    .limit(1)
    .get();
  return found ? { firstRow: found.firstRow, rows: JSON.parse(found.rows) as RawRow[] } : null;
}

/** What one step did, to be added to the job's counters. */
export interface Progress {
  /** The checkpoint the step started from (null: the job's start). */
  from: string | null;
  to: string | null;
  processed: number;
  succeeded: number;
  failed: number;
  errors: RowError[];
  /** When progress is next expected (epoch ms). */
  leaseUntil: number;
}

/**
 * Moves the checkpoint and adds the step's counts in one batch, only if the checkpoint is still
 * where the step started: a step run twice (a retry, a restart, a second instance) counts once.
 * Row errors are keyed by row, so a repeated one adds nothing. True when this call moved it.
 */
export async function commitProgress(db: D1Database, jobId: string, progress: Progress): Promise<boolean> {
  const statements: D1PreparedStatement[] = chunkForStatement(progress.errors, { perItem: 5 }).map((errors) =>
    db
      .prepare(
        `INSERT OR IGNORE INTO job_errors (job_id, row, email, code, errors) VALUES ${errors.map(() => "(?, ?, ?, ?, ?)").join(", ")}`,
      )
      .bind(...errors.flatMap((e) => [jobId, e.row, e.email, e.code, JSON.stringify(e.errors)])),
  );
  statements.push(
    db
      .prepare(
        `UPDATE jobs SET checkpoint = ?, processed = processed + ?, succeeded = succeeded + ?, failed = failed + ?,
           lease_until = ? WHERE id = ? AND status = 'running' AND checkpoint IS ?`,
      )
      .bind(
        progress.to,
        progress.processed,
        progress.succeeded,
        progress.failed,
        progress.leaseUntil,
        jobId,
        progress.from,
      ),
  );
  const results = await db.batch(statements);
  return (results[results.length - 1]?.meta.changes ?? 0) > 0;
}

/** Puts off the restart sweep while a step waits for quota. */
export async function extendLease(db: D1Database, jobId: string, leaseUntil: number): Promise<void> {
  await drizzle(db).update(jobs).set({ leaseUntil }).where(eq(jobs.id, jobId));
}

/** Records the Workflow instance that runs the job from now on (see `continueJob`). */
export async function setJobInstance(db: D1Database, jobId: string, instanceId: string): Promise<void> {
  await drizzle(db).update(jobs).set({ instanceId }).where(eq(jobs.id, jobId));
}

/** The statuses a job ends in. */
export type FinishedStatus = Exclude<JobStatus, "queued" | "running">;

/**
 * The status a job ends in when asked to end `requested`: one that processed rows and saw every
 * one fail did not succeed, so it ends `failed` with that reason; otherwise as asked (a job
 * with some rows failed still succeeds, its `failed` count says how many).
 */
export function finishedStatus(
  requested: FinishedStatus,
  counts: Pick<JobRow, "processed" | "succeeded" | "failed">,
): { status: FinishedStatus; failure: string | null } {
  if (requested === "succeeded" && counts.processed > 0 && counts.succeeded === 0 && counts.failed > 0) {
    return {
      status: "failed",
      failure: `Every row failed (${counts.failed} of ${counts.processed}); none succeeded.`,
    };
  }
  return { status: requested, failure: null };
}

/**
 * Ends an active job (a finished one stays as it is) and returns the status it ended in (see
 * `finishedStatus`: asked to succeed, a job whose every row failed fails), or null when it had
 * already finished. A job that ends without error has processed everything: its total becomes
 * what it processed.
 */
export async function finishJob(
  db: D1Database,
  jobId: string,
  requested: FinishedStatus,
  now: Date,
  failure: string | null = null,
): Promise<FinishedStatus | null> {
  const current = await loadJob(db, jobId);
  if (!current || !ACTIVE_STATUSES.includes(current.status)) return null;
  const outcome = finishedStatus(requested, current);
  const updated = await drizzle(db)
    .update(jobs)
    .set({
      status: outcome.status,
      finishedAt: now.toISOString(),
      startedAt: current.startedAt ?? now.toISOString(),
      failure: outcome.failure ?? failure,
      ...(requested === "succeeded" ? { total: current.processed } : {}),
    })
    .where(and(eq(jobs.id, jobId), inArray(jobs.status, ACTIVE_STATUSES)))
    .returning({ id: jobs.id });
  return updated.length > 0 ? outcome.status : null;
}

/** Active jobs whose lease ran out before `now` (epoch ms): at most `limit`, oldest lease first. */
export async function expiredJobs(db: D1Database, now: number, limit = 50): Promise<JobRow[]> {
  return drizzle(db)
    .select()
    .from(jobs)
    .where(and(inArray(jobs.status, ACTIVE_STATUSES), lt(jobs.leaseUntil, now)))
    .orderBy(asc(jobs.leaseUntil))
    .limit(limit);
}
