import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { errorFields, log } from "../../lib/logger.ts";
import type { AcmeTransport } from "../acme-client/transport.ts";
import { type IntegrationConfig, loadIntegrationConfig } from "../config.ts";
import type { RequestStats } from "../context.ts";
import { type ConnectionRow, connections, type JobRow, type JobStatus } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { type AcmePage, type JobAcme, jobAcme } from "./acme-adapter.ts";
import { applyAcmePage } from "./apply-acme-page.ts";
import { loadJobConfig } from "./config.ts";
import type { RawRow } from "./import-parser.ts";
import { checkRow, planUpsert, type RowError } from "./import-row.ts";
import { commitProgress, extendLease, finishJob, loadChunkAt, loadJob, markRunning } from "./job-store.ts";
import { markReconciled } from "./reconciliation.ts";

/** What one step tells the workflow: the job is over, or go on (after a durable sleep of `waitMs`). */
export type StepOutcome = { done: true; status: JobStatus } | { done: false; waitMs: number };

/** Pages of Acme's list one sync step reads at most. */
const PAGES_PER_STEP = 10;
/** A sync's checkpoint once its last page is applied. */
const SYNC_END = "end";
/** The shortest durable sleep between steps, ms. */
const MIN_WAIT_MS = 50;
/** Problems that mean "not now": the step stops, keeps what it did, and the workflow sleeps. */
const TRANSIENT = new Set(["acme_rate_limited", "acme_unavailable", "acme_timeout"]);

function transientWaitMs(error: unknown): number | null {
  if (!(error instanceof ApiError) || !TRANSIENT.has(error.code)) return null;
  // The session's own figure when there is one (a rate slot, the tail of a window): whole
  // seconds would wake the job up to a second late and leave slots of a short window unused.
  if (error.options.retryAfterMs !== undefined) return Math.max(MIN_WAIT_MS, error.options.retryAfterMs);
  const seconds = Number(error.options.headers?.["Retry-After"] ?? "1");
  return Math.max(1, Number.isFinite(seconds) ? seconds : 1) * 1000;
}

interface StepContext {
  env: Env;
  config: IntegrationConfig;
  leaseMs: number;
  job: JobRow;
  connection: ConnectionRow;
  acme: JobAcme;
  now: () => number;
}

/**
 * One step of a job, idempotent against the job's D1 checkpoint: it reads where the job stands,
 * does the next piece of work (one import chunk, or up to PAGES_PER_STEP pages of a sync), and
 * moves the checkpoint with the counts only from where it started. Run twice, the second run
 * finds the work in place (Acme already holds the row, the mirror the version) and counts
 * nothing. A cancel request is honoured here, so a job stops after the step in flight.
 */
export async function runJobStep(env: Env, inProcess: AcmeTransport, jobId: string): Promise<StepOutcome> {
  const now = () => Date.now();
  let job = await loadJob(env.DB, jobId);
  if (!job) return { done: true, status: "failed" };
  if (job.status !== "queued" && job.status !== "running") return { done: true, status: job.status };
  if (job.cancelRequested) {
    await finishJob(env.DB, jobId, "cancelled", new Date());
    return { done: true, status: "cancelled" };
  }
  if (job.status === "queued") {
    await markRunning(env.DB, jobId, new Date());
    job = (await loadJob(env.DB, jobId)) ?? job;
  }
  const connection = await drizzle(env.DB)
    .select()
    .from(connections)
    .where(eq(connections.id, job.connectionId))
    .get();
  if (!connection) {
    await finishJob(env.DB, jobId, "failed", new Date(), "The connection no longer exists.");
    return { done: true, status: "failed" };
  }
  const config = loadIntegrationConfig(env);
  const stats: RequestStats = { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 };
  const context: StepContext = {
    env,
    config,
    leaseMs: loadJobConfig(env).leaseMs,
    job,
    connection,
    acme: jobAcme(env, config, connection, inProcess, stats),
    now,
  };
  let outcome: StepOutcome;
  try {
    outcome = job.kind === "import" ? await importStep(context) : await syncStep(context);
  } catch (error) {
    // Credentials Acme refuses will not work on a retry either; the next cron run tries anew.
    if (!(error instanceof ApiError && error.code === "acme_auth_failed")) throw error;
    await failJob(env, jobId, error);
    return { done: true, status: "failed" };
  }
  log("info", "job step", {
    jobId,
    kind: job.kind,
    connection: job.connectionId,
    done: outcome.done,
    waitMs: outcome.done ? 0 : outcome.waitMs,
    acmeAttempts: stats.acmeAttempts,
    acmeRetries: stats.acmeRetries,
    acmeWaitMs: stats.acmeWaitMs,
  });
  return outcome;
}

/** Creates or updates one row's contact at Acme; one more look after a race (409, 412, 404). */
async function upsert(acme: JobAcme, input: Parameters<typeof planUpsert>[0]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const plan = planUpsert(input, await acme.findByEmail(input.email));
    try {
      if (plan.kind === "create") await acme.create(plan.body);
      else if (plan.kind === "update") await acme.update(plan.id, plan.version, plan.body);
      return;
    } catch (error) {
      const raced =
        error instanceof ApiError &&
        ["duplicate_email", "version_mismatch", "not_found"].includes(error.code);
      if (!raced || attempt > 0) throw error;
    }
  }
}

/** Rows of an import worked on side by side (each waits for its own rate slot in the session). */
const IMPORT_CONCURRENCY = 8;
/** A step starts no new wave of rows after this long (ms), so progress and cancels show promptly. */
const STEP_BUDGET_MS = 10_000;

type RowResult = { kind: "ok" } | { kind: "failed"; error: RowError } | { kind: "wait"; waitMs: number };

async function importRow(acme: JobAcme, raw: RawRow): Promise<RowResult> {
  const checked = checkRow(raw);
  if ("error" in checked) return { kind: "failed", error: checked.error };
  try {
    await upsert(acme, checked.input);
    return { kind: "ok" };
  } catch (error) {
    const waitMs = transientWaitMs(error);
    if (waitMs !== null) return { kind: "wait", waitMs };
    if (!(error instanceof ApiError) || error.status >= 500) throw error;
    const errors = error.options.errors ?? [{ field: "email", message: error.message }];
    return { kind: "failed", error: { row: raw.row, email: checked.input.email, code: error.code, errors } };
  }
}

/** The next rows to work on together: at most IMPORT_CONCURRENCY, and no email twice (those go in order). */
function nextWave(rows: RawRow[]): RawRow[] {
  const emails = new Set<string>();
  const wave: RawRow[] = [];
  for (const raw of rows) {
    const email = "value" in raw ? (raw.value as { email?: unknown } | null)?.email : undefined;
    const key = typeof email === "string" ? email.toLowerCase() : null;
    if (wave.length >= IMPORT_CONCURRENCY || (key !== null && emails.has(key))) break;
    if (key !== null) emails.add(key);
    wave.push(raw);
  }
  return wave;
}

/**
 * An import's checkpoint: the first row not yet done, and rows beyond it already done (a row
 * that had to wait for quota while later rows of its wave went through). Written "12" or "12:14,15".
 */
interface ImportCheckpoint {
  next: number;
  doneBeyond: Set<number>;
}

function readImportCheckpoint(text: string | null): ImportCheckpoint {
  if (text === null) return { next: 1, doneBeyond: new Set() };
  const [next, beyond] = text.split(":");
  return { next: Number(next), doneBeyond: new Set(beyond ? beyond.split(",").map(Number) : []) };
}

function writeImportCheckpoint(checkpoint: ImportCheckpoint): string {
  const beyond = [...checkpoint.doneBeyond].sort((a, b) => a - b);
  return beyond.length > 0 ? `${checkpoint.next}:${beyond.join(",")}` : String(checkpoint.next);
}

/**
 * Rows of one import chunk from the checkpoint on, in waves of rows worked on side by side,
 * until the chunk ends, the quota says wait, a cancel is requested or the step's time is up.
 * Every row is counted once: the checkpoint names the rows done, so the next step (or a repeat of
 * this one, which commits nothing) skips them.
 */
async function importStep(context: StepContext): Promise<StepOutcome> {
  const { env, job } = context;
  const total = job.total ?? 0;
  const checkpoint = readImportCheckpoint(job.checkpoint);
  if (checkpoint.next > total) {
    await finishJob(env.DB, job.id, "succeeded", new Date());
    return { done: true, status: "succeeded" };
  }
  const chunk = await loadChunkAt(env.DB, job.id, checkpoint.next);
  if (!chunk) throw new Error(`import ${job.id} has no chunk for row ${checkpoint.next}`);
  const began = context.now();
  const errors: RowError[] = [];
  let pending = chunk.rows.filter((raw) => raw.row >= checkpoint.next && !checkpoint.doneBeyond.has(raw.row));
  const done = new Set(checkpoint.doneBeyond);
  let processed = 0;
  let succeeded = 0;
  let waitMs = 0;
  while (pending.length > 0) {
    const wave = nextWave(pending);
    const results = await Promise.all(wave.map((raw) => importRow(context.acme, raw)));
    const waiting: RawRow[] = [];
    results.forEach((result, i) => {
      const raw = wave[i] as RawRow;
      if (result.kind === "wait") {
        waitMs = Math.max(waitMs, result.waitMs);
        waiting.push(raw);
        return;
      }
      if (result.kind === "ok") succeeded += 1;
      else errors.push(result.error);
      processed += 1;
      done.add(raw.row);
    });
    pending = [...waiting, ...pending.slice(wave.length)];
    if (waitMs > 0 || context.now() - began > STEP_BUDGET_MS) break;
    if (pending.length > 0 && (await loadJob(env.DB, job.id))?.cancelRequested) break;
  }
  let next = checkpoint.next;
  while (done.delete(next)) next += 1;
  await commitProgress(env.DB, job.id, {
    from: job.checkpoint,
    to: writeImportCheckpoint({ next, doneBeyond: done }),
    processed,
    succeeded,
    failed: errors.length,
    errors,
    leaseUntil: context.now() + waitMs + context.leaseMs,
  });
  if (next > total) {
    await finishJob(env.DB, job.id, "succeeded", new Date());
    return { done: true, status: "succeeded" };
  }
  return { done: false, waitMs };
}

type PageRead = { page: AcmePage } | { error: unknown };

/** Starts reading a page now; the outcome is a value, so a read ahead that nobody awaits rejects nothing. */
function readPage(context: StepContext, after: string | null): Promise<PageRead> {
  return context.acme.page(after, context.job.updatedSince).then(
    (page) => ({ page }),
    (error: unknown) => ({ error }),
  );
}

/**
 * Backfill and reconcile: up to PAGES_PER_STEP pages of Acme's list from the checkpoint (the
 * next page's cursor), each applied to the mirror and feed and committed before the next. The
 * next page is read while the current one is applied, so a step asks Acme for its pages as fast
 * as its rate slots come (a window's short tail included), not a page's D1 work apart.
 */
async function syncStep(context: StepContext): Promise<StepOutcome> {
  const { env, job, config } = context;
  const source = job.kind === "backfill" ? "backfill" : "reconciliation";
  let from = job.checkpoint;
  if (from === SYNC_END) return finishSync(context);
  let reading = readPage(context, from);
  for (let i = 0; i < PAGES_PER_STEP; i++) {
    const read = await reading;
    if ("error" in read) {
      const wait = transientWaitMs(read.error);
      if (wait === null) throw read.error;
      await extendLease(env.DB, job.id, context.now() + wait + context.leaseMs);
      return { done: false, waitMs: wait };
    }
    const { page } = read;
    if (page.next && i + 1 < PAGES_PER_STEP) reading = readPage(context, page.next);
    await applyAcmePage(env, config, job.connectionId, page.results, source);
    // The last page moves the checkpoint to a marker no cursor looks like, so a repeat of this
    // step after it ends the job instead of paging again.
    const to = page.next ?? SYNC_END;
    await commitProgress(env.DB, job.id, {
      from,
      to,
      processed: page.results.length,
      succeeded: page.results.length,
      failed: 0,
      errors: [],
      leaseUntil: context.now() + context.leaseMs,
    });
    if (!page.next) return finishSync(context);
    from = to;
  }
  return { done: false, waitMs: 0 };
}

async function finishSync(context: StepContext): Promise<StepOutcome> {
  const { env, job } = context;
  // Changes made after the run began are read by the next run (which also re-reads an overlap).
  await markReconciled(env.DB, job.connectionId, job.startedAt ?? job.createdAt);
  await finishJob(env.DB, job.id, "succeeded", new Date());
  return { done: true, status: "succeeded" };
}

/** Records a job as failed after its step gave up (the workflow's retries are spent). */
export async function failJob(env: Env, jobId: string, error: unknown): Promise<void> {
  log("error", "job failed", { jobId, ...errorFields(error) });
  const reason = error instanceof ApiError ? error.message : "The job stopped on an internal error.";
  await finishJob(env.DB, jobId, "failed", new Date(), reason);
}
