import { and, asc, desc, eq, gt, inArray, isNull, lt, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { newId } from "../../lib/ids.ts";
import {
  type JobKind,
  type JobRow,
  type JobStatus,
  jobChunks,
  jobErrors,
  jobs,
} from "../connection-data/schema.ts";
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
  kind: JobKind;
  /** Import rows; they are stored in chunks with the job. */
  rows?: RawRow[];
  updatedSince?: string | null;
  leaseMs: number;
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

/** Which jobs a list shows: newest first, older than `before`, of one kind or status when given. */
export interface JobPage {
  limit: number;
  before?: string | undefined;
  kind?: JobKind | undefined;
  status?: JobStatus | undefined;
}

/**
 * One connection's jobs, their import chunks and per-row errors, in its `ConnectionData` object's
 * SQLite storage. Synchronous: each method is atomic in the object's one thread.
 */
export class JobStore {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly db: DrizzleSqliteDODatabase,
  ) {}

  /** Stores a queued job and an import's rows (chunked) in one transaction. */
  create(input: NewJob, now = new Date()): JobRow {
    const chunks = input.rows ? chunkRows(input.rows) : [];
    const row: JobRow = {
      id: newId("job"),
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
    this.storage.transactionSync(() => {
      this.db.insert(jobs).values(row).run();
      chunks.forEach((rows, index) => {
        this.db
          .insert(jobChunks)
          .values({ jobId: row.id, chunk: index, firstRow: rows[0]?.row ?? 1, rows: JSON.stringify(rows) })
          .run();
      });
    });
    return row;
  }

  /** The job, or null. */
  find(id: string): JobRow | null {
    return this.db.select().from(jobs).where(eq(jobs.id, id)).get() ?? null;
  }

  /** Newest first; `before` is the last id of the previous page. */
  list(page: JobPage): JobRow[] {
    return this.db
      .select()
      .from(jobs)
      .where(
        and(
          page.before ? lt(jobs.id, page.before) : undefined,
          page.kind ? eq(jobs.kind, page.kind) : undefined,
          page.status ? eq(jobs.status, page.status) : undefined,
        ),
      )
      .orderBy(desc(jobs.id))
      .limit(page.limit)
      .all();
  }

  /** The newest backfill or reconciliation that ended (succeeded or failed), if any. */
  lastSync(): JobRow | null {
    return (
      this.db
        .select()
        .from(jobs)
        .where(
          and(inArray(jobs.kind, ["backfill", "reconcile"]), inArray(jobs.status, ["succeeded", "failed"])),
        )
        .orderBy(desc(jobs.id))
        .limit(1)
        .get() ?? null
    );
  }

  /** An active job of these kinds, if any. */
  active(kinds: JobKind[]): JobRow | null {
    return (
      this.db
        .select()
        .from(jobs)
        .where(and(inArray(jobs.kind, kinds), inArray(jobs.status, ACTIVE_STATUSES)))
        .get() ?? null
    );
  }

  /** Asks an active job to stop after its step in flight; false if it had already finished. */
  requestCancel(id: string): boolean {
    return (
      this.db
        .update(jobs)
        .set({ cancelRequested: true })
        .where(and(eq(jobs.id, id), inArray(jobs.status, ACTIVE_STATUSES)))
        .returning({ id: jobs.id })
        .all().length > 0
    );
  }

  /** Per-row errors after row `after`, in row order. */
  errors(jobId: string, page: { after: number; limit: number }): RowError[] {
    return this.db
      .select()
      .from(jobErrors)
      .where(and(eq(jobErrors.jobId, jobId), gt(jobErrors.row, page.after)))
      .orderBy(asc(jobErrors.row))
      .limit(page.limit)
      .all()
      .map((r) => ({ row: r.row, email: r.email, code: r.code, errors: JSON.parse(r.errors) }));
  }

  /** queued → running, once; later steps find it running already. */
  markRunning(id: string, now: Date): void {
    this.db
      .update(jobs)
      .set({ status: "running", startedAt: now.toISOString() })
      .where(and(eq(jobs.id, id), eq(jobs.status, "queued")))
      .run();
  }

  /** The chunk holding row `row` of an import. */
  chunkAt(jobId: string, row: number): { firstRow: number; rows: RawRow[] } | null {
    const found = this.db
      .select()
      .from(jobChunks)
      .where(and(eq(jobChunks.jobId, jobId), lt(jobChunks.firstRow, row + 1)))
      .orderBy(desc(jobChunks.firstRow))
      .limit(1)
      .get();
    return found ? { firstRow: found.firstRow, rows: JSON.parse(found.rows) as RawRow[] } : null;
  }

  /**
   * Moves the checkpoint and adds the step's counts in one transaction, only if the checkpoint is
   * still where the step started: a step run twice (a retry, a restart, a second instance) counts
   * once. Row errors are keyed by row, so a repeated one adds nothing. True when this call moved it.
   */
  commitProgress(jobId: string, progress: Progress): boolean {
    return this.storage.transactionSync(() => {
      const moved = this.db
        .update(jobs)
        .set({
          checkpoint: progress.to,
          processed: sql`${jobs.processed} + ${progress.processed}`,
          succeeded: sql`${jobs.succeeded} + ${progress.succeeded}`,
          failed: sql`${jobs.failed} + ${progress.failed}`,
          leaseUntil: progress.leaseUntil,
        })
        .where(
          and(
            eq(jobs.id, jobId),
            eq(jobs.status, "running"),
            progress.from === null ? isNull(jobs.checkpoint) : eq(jobs.checkpoint, progress.from),
          ),
        )
        .returning({ id: jobs.id })
        .all();
      if (moved.length === 0) return false;
      for (const e of progress.errors) {
        this.db
          .insert(jobErrors)
          .values({ jobId, row: e.row, email: e.email, code: e.code, errors: JSON.stringify(e.errors) })
          .onConflictDoNothing()
          .run();
      }
      return true;
    });
  }

  /** Puts off the restart sweep while a step waits for quota. */
  extendLease(jobId: string, leaseUntil: number): void {
    this.db.update(jobs).set({ leaseUntil }).where(eq(jobs.id, jobId)).run();
  }

  /** Records the Workflow instance that runs the job from now on (see `continueJob`). */
  setInstance(jobId: string, instanceId: string): void {
    this.db.update(jobs).set({ instanceId }).where(eq(jobs.id, jobId)).run();
  }

  /**
   * Ends an active job (a finished one stays as it is) and returns the status it ended in (see
   * `finishedStatus`: asked to succeed, a job whose every row failed fails), or null when it had
   * already finished. A job that ends without error has processed everything: its total becomes
   * what it processed. An import's chunks are deleted with it.
   */
  finish(
    jobId: string,
    requested: FinishedStatus,
    now: Date,
    failure: string | null = null,
  ): FinishedStatus | null {
    return this.storage.transactionSync(() => {
      const current = this.find(jobId);
      if (!current || !ACTIVE_STATUSES.includes(current.status)) return null;
      const outcome = finishedStatus(requested, current);
      this.db
        .update(jobs)
        .set({
          status: outcome.status,
          finishedAt: now.toISOString(),
          startedAt: current.startedAt ?? now.toISOString(),
          failure: outcome.failure ?? failure,
          ...(requested === "succeeded" ? { total: current.processed } : {}),
        })
        .where(eq(jobs.id, jobId))
        .run();
      this.db.delete(jobChunks).where(eq(jobChunks.jobId, jobId)).run();
      return outcome.status;
    });
  }

  /**
   * Deletes at most `limit` jobs finished before `before`, with their errors and any chunks left
   * (errors: at most `limit` rows per call; a job goes once its errors are gone). Returns rows deleted.
   */
  prune(before: Date, limit: number): number {
    return this.storage.transactionSync(() => {
      const cutoff = before.toISOString();
      const errors = this.storage.sql
        .exec(
          `DELETE FROM job_errors WHERE rowid IN (
             SELECT e.rowid FROM job_errors e JOIN jobs j ON j.id = e.job_id
             WHERE j.finished_at IS NOT NULL AND j.finished_at < ?1 LIMIT ?2) RETURNING job_id`,
          cutoff,
          limit,
        )
        .toArray().length;
      const finished = this.storage.sql
        .exec(
          `DELETE FROM jobs WHERE id IN (
             SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?1
               AND NOT EXISTS (SELECT 1 FROM job_errors e WHERE e.job_id = jobs.id)
             LIMIT ?2) RETURNING id`,
          cutoff,
          Math.max(0, limit - errors),
        )
        .toArray().length;
      return errors + finished;
    });
  }
}
