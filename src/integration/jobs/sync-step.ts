import type { AcmePage } from "./acme-adapter.ts";
import { applyAcmePage } from "./apply-acme-page.ts";
import { commitProgress, extendLease, finishJob, loadJob } from "./job-store.ts";
import { markReconciled } from "./reconciliation.ts";
import { type StepContext, type StepOutcome, transientWaitMs } from "./step-context.ts";

/** Pages of Acme's list one sync step reads at most. */
const PAGES_PER_STEP = 10;
/** A sync's checkpoint once its last page is applied. */
const SYNC_END = "end";

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
export async function syncStep(context: StepContext): Promise<StepOutcome> {
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
  const status = await finishJob(env.DB, job.id, "succeeded", new Date());
  return { done: true, status: status ?? (await loadJob(env.DB, job.id))?.status ?? "succeeded" };
}
