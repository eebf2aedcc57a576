import type { CustomFieldMapping } from "../contacts/mapping.ts";
import { ApiError } from "../errors.ts";
import type { JobAcme } from "./acme-adapter.ts";
import { readImportCheckpoint, writeImportCheckpoint } from "./import-checkpoint.ts";
import type { RawRow } from "./import-parser.ts";
import { checkRow, planUpsert, type RowError } from "./import-row.ts";
import { endJob } from "./job-end.ts";
import { type StepContext, type StepOutcome, transientWaitMs } from "./step-context.ts";

/** Creates or updates one row's contact at Acme; one more look after a race (409, 412, 404). */
async function upsert(
  acme: JobAcme,
  input: Parameters<typeof planUpsert>[0],
  mapping: readonly CustomFieldMapping[],
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const plan = planUpsert(input, await acme.findByEmail(input.email), mapping);
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

async function importRow(
  acme: JobAcme,
  raw: RawRow,
  mapping: readonly CustomFieldMapping[],
): Promise<RowResult> {
  const checked = checkRow(raw, mapping);
  if ("error" in checked) return { kind: "failed", error: checked.error };
  try {
    await upsert(acme, checked.input, mapping);
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
 * Rows of one import chunk from the checkpoint on, in waves of rows worked on side by side,
 * until the chunk ends, the quota says wait, a cancel is requested or the step's time is up.
 * Every row is counted once: the checkpoint names the rows done, so the next step (or a repeat of
 * this one, which commits nothing) skips them.
 */
export async function importStep(context: StepContext): Promise<StepOutcome> {
  const { data, job } = context;
  const total = job.total ?? 0;
  const checkpoint = readImportCheckpoint(job.checkpoint);
  if (checkpoint.next > total) return finishImport(context);
  const chunk = await data.chunkAt(job.id, checkpoint.next);
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
    const results = await Promise.all(wave.map((raw) => importRow(context.acme, raw, context.mapping)));
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
    if (pending.length > 0 && (await data.findJob(job.id))?.cancelRequested) break;
  }
  let next = checkpoint.next;
  while (done.delete(next)) next += 1;
  await data.commitProgress(job.id, {
    from: job.checkpoint,
    to: writeImportCheckpoint({ next, doneBeyond: done }),
    processed,
    succeeded,
    failed: errors.length,
    errors,
    leaseUntil: context.now() + waitMs + context.leaseMs,
  });
  if (next > total) return finishImport(context);
  return { done: false, waitMs };
}

/** Ends the import: succeeded, or failed when every row failed (see `finishedStatus`). */
async function finishImport(context: StepContext): Promise<StepOutcome> {
  return { done: true, status: await endJob(context, "succeeded") };
}
