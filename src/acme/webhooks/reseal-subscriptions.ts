import { and, count, eq, gt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import {
  finishReseal,
  RESEAL_BATCH_MAX,
  type ResealReport,
  sealedWithOtherKey,
} from "../../lib/reseal-batch.ts";
import { SealedSecretError, type SecretKeyRing } from "../../lib/secret-box.ts";
import { webhookSubscriptions } from "../db/schema.ts";

/**
 * Re-seals with the ring's current key the signing secrets of at most `limit` (1 to
 * RESEAL_BATCH_MAX) subscriptions, of every account, sealed with another key (or the old
 * pepper-derived one), in id order after `after`. A row is written only if it still holds what
 * was read. Makes at most `limit` + 2 D1 queries. Throws a RangeError for a limit out of range.
 */
export async function resealSubscriptions(
  d1: D1Database,
  keys: SecretKeyRing,
  options: { limit: number; after?: string | undefined },
): Promise<ResealReport> {
  if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > RESEAL_BATCH_MAX)
    throw new RangeError(`a re-seal takes 1 to ${RESEAL_BATCH_MAX} rows, not ${options.limit}`);
  const db = drizzle(d1);
  const stale = sealedWithOtherKey(webhookSubscriptions.secretEnc, await keys.currentPrefix());
  const rows = await db
    .select({ id: webhookSubscriptions.id, secretEnc: webhookSubscriptions.secretEnc })
    .from(webhookSubscriptions)
    .where(and(stale, options.after === undefined ? undefined : gt(webhookSubscriptions.id, options.after)))
    .orderBy(webhookSubscriptions.id)
    .limit(options.limit);

  let unreadable = 0;
  const updates = [];
  for (const row of rows) {
    let resealed: string | null;
    try {
      resealed = await keys.reseal(row.secretEnc, row.id);
    } catch (error) {
      if (!(error instanceof SealedSecretError)) throw error;
      unreadable += 1;
      continue;
    }
    if (resealed === null) continue;
    updates.push(
      db
        .update(webhookSubscriptions)
        .set({ secretEnc: resealed })
        .where(and(eq(webhookSubscriptions.id, row.id), eq(webhookSubscriptions.secretEnc, row.secretEnc)))
        .returning({ id: webhookSubscriptions.id }),
    );
  }
  const countStale = async () =>
    (await db.select({ rows: count() }).from(webhookSubscriptions).where(stale).get())?.rows ?? 0;
  return finishReseal(db, updates, countStale, { page: rows, limit: options.limit, unreadable, keys });
}
