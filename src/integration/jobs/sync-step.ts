import { KV_OPS_PER_INVALIDATION } from "../feed/invalidate-copies.ts";
import { ACME_PAGE_SIZE, type AcmePage } from "./acme-adapter.ts";
import { applyAcmePage } from "./apply-acme-page.ts";
import { endJob } from "./job-end.ts";
import { markReconciled } from "./reconciliation.ts";
import { type StepContext, type StepOutcome, transientWaitMs } from "./step-context.ts";

/** Pages of Acme's list one sync step reads at most. */
export const PAGES_PER_STEP = 10;
/**
 * KV operations a step's cache invalidations may reach: a step reads no further page once one
 * more page's worth (ACME_PAGE_SIZE contacts, each KV_OPS_PER_INVALIDATION) could pass it, so a
 * step stays well inside an invocation's 1,000 KV operations.
 */
export const KV_OPS_PER_STEP = 600;
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
  const { env, job, config, data } = context;
  const source = job.kind === "backfill" ? "backfill" : "reconciliation";
  let from = job.checkpoint;
  if (from === SYNC_END) return finishSync(context);
  let reading: Promise<PageRead> | null = null;
  let kvOps = 0;
  for (let i = 0; i < PAGES_PER_STEP; i++) {
    const read = await (reading ?? readPage(context, from));
    reading = null;
    if ("error" in read) {
      const wait = transientWaitMs(read.error);
      if (wait === null) throw read.error;
      await data.extendLease(job.id, context.now() + wait + context.leaseMs);
      return { done: false, waitMs: wait };
    }
    const { page } = read;
    const room = KV_OPS_PER_STEP - kvOps - ACME_PAGE_SIZE * KV_OPS_PER_INVALIDATION;
    const more = page.next !== null && i + 1 < PAGES_PER_STEP;
    // Read ahead only if the page after this one can be applied in this step whatever it holds.
    if (more && room >= ACME_PAGE_SIZE * KV_OPS_PER_INVALIDATION) reading = readPage(context, page.next);
    const applied = await applyAcmePage(env, config, context.connection.id, page.results, source);
    kvOps += applied.invalidated * KV_OPS_PER_INVALIDATION;
    // The last page moves the checkpoint to a marker no cursor looks like, so a repeat of this
    // step after it ends the job instead of paging again.
    const to = page.next ?? SYNC_END;
    await data.commitProgress(job.id, {
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
    if (kvOps + ACME_PAGE_SIZE * KV_OPS_PER_INVALIDATION > KV_OPS_PER_STEP) break;
  }
  return { done: false, waitMs: 0 };
}

async function finishSync(context: StepContext): Promise<StepOutcome> {
  const { env, job } = context;
  // Changes made after the run began are read by the next run (which also re-reads an overlap).
  await markReconciled(env.DB, context.connection.id, job.startedAt ?? job.createdAt);
  return { done: true, status: await endJob(context, "succeeded") };
}
