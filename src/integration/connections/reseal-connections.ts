import { and, count, eq, gt, isNull, or } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import {
  finishReseal,
  RESEAL_BATCH_MAX,
  type ResealReport,
  sealedWithOtherKey,
} from "../../lib/reseal-batch.ts";
import { SealedSecretError, type SecretKeyRing } from "../../lib/secret-box.ts";
import { connections } from "../db/schema.ts";
import type { RefreshResealOutcome } from "./oauth-grant.ts";

/**
 * Re-seals with the ring's current key the secrets of at most `limit` (1 to RESEAL_BATCH_MAX)
 * connections holding a value sealed with another key, or using OAuth, in id order after
 * `after`. Each row is written only if it still holds what was read, so a secret stored
 * meanwhile is never undone. An OAuth connection's refresh token lives in its AcmeSession, not
 * in D1: `refreshTokens` re-seals it there (two session calls per OAuth connection of the page);
 * `remaining` counts D1's values only. Makes at most `limit` + 2 D1 queries (a read, one batch of
 * updates, a count). Throws a RangeError for a limit out of range; D1 errors propagate.
 */
export async function resealConnections(
  d1: D1Database,
  keys: SecretKeyRing,
  options: {
    limit: number;
    after?: string | undefined;
    refreshTokens?: (connectionId: string) => Promise<RefreshResealOutcome>;
  },
): Promise<ResealReport> {
  if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > RESEAL_BATCH_MAX)
    throw new RangeError(`a re-seal takes 1 to ${RESEAL_BATCH_MAX} rows, not ${options.limit}`);
  const db = drizzle(d1);
  const prefix = await keys.currentPrefix();
  const stale = or(
    sealedWithOtherKey(connections.acmeClientSecretEnc, prefix),
    sealedWithOtherKey(connections.webhookSecretEnc, prefix),
  );
  const rows = await db
    .select({
      id: connections.id,
      method: connections.method,
      acmeClientSecretEnc: connections.acmeClientSecretEnc,
      webhookSecretEnc: connections.webhookSecretEnc,
    })
    .from(connections)
    .where(
      and(
        options.refreshTokens ? or(stale, eq(connections.method, "oauth")) : stale,
        options.after === undefined ? undefined : gt(connections.id, options.after),
      ),
    )
    .orderBy(connections.id)
    .limit(options.limit);

  let unreadable = 0;
  let refreshResealed = 0;
  const updates = [];
  for (const row of rows) {
    const refresh =
      row.method === "oauth" && options.refreshTokens ? await options.refreshTokens(row.id) : "unchanged";
    const sealedElse = [row.acmeClientSecretEnc, row.webhookSecretEnc].some(
      (value) => value !== null && !value.startsWith(prefix),
    );
    if (refresh === "unreadable") unreadable += 1;
    if (!sealedElse) {
      // Only the refresh token was in question: the row counts as re-sealed if it was.
      if (refresh === "resealed") refreshResealed += 1;
      continue;
    }
    let clientSecret: string | null;
    let webhookSecret: string | null;
    try {
      clientSecret = row.acmeClientSecretEnc && (await keys.reseal(row.acmeClientSecretEnc, row.id));
      webhookSecret = row.webhookSecretEnc && (await keys.reseal(row.webhookSecretEnc, `${row.id}:webhook`));
    } catch (error) {
      if (!(error instanceof SealedSecretError)) throw error;
      if (refresh !== "unreadable") unreadable += 1;
      continue;
    }
    updates.push(
      db
        .update(connections)
        .set({
          acmeClientSecretEnc: clientSecret ?? row.acmeClientSecretEnc,
          webhookSecretEnc: webhookSecret ?? row.webhookSecretEnc,
        })
        .where(
          and(
            eq(connections.id, row.id),
            row.acmeClientSecretEnc === null
              ? isNull(connections.acmeClientSecretEnc)
              : eq(connections.acmeClientSecretEnc, row.acmeClientSecretEnc),
            row.webhookSecretEnc === null
              ? isNull(connections.webhookSecretEnc)
              : eq(connections.webhookSecretEnc, row.webhookSecretEnc),
          ),
        )
        .returning({ id: connections.id }),
    );
  }
  const countStale = async () =>
    (await db.select({ rows: count() }).from(connections).where(stale).get())?.rows ?? 0;
  const report = await finishReseal(db, updates, countStale, {
    page: rows,
    limit: options.limit,
    unreadable,
    keys,
  });
  return { ...report, resealed: report.resealed + refreshResealed };
}
