import { mapWithLimit } from "../../lib/concurrency-limit.ts";
import { WORKER_MAX_OPEN_CONNECTIONS } from "../../lib/worker-limits.ts";
import { ContactCache } from "../contacts/contact-cache.ts";
import type { CacheInvalidation } from "./feed-store.ts";

/**
 * KV operations one invalidation may cost at most: its tombstone write, and one retry when KV
 * refuses the first (one write per key per second); see `ContactCache.invalidate`.
 */
export const KV_OPS_PER_INVALIDATION = 2;

/**
 * Drops the cached copies of changed contacts (only those the connection's object says may be
 * cached), at most WORKER_MAX_OPEN_CONNECTIONS KV writes in flight. Never throws (a failed write is
 * logged and counted by the cache).
 */
export async function invalidateCopies(
  env: Env,
  connectionId: string,
  cacheTtlSeconds: number,
  invalidations: CacheInvalidation[],
): Promise<void> {
  if (invalidations.length === 0) return;
  const cache = new ContactCache(env.CACHE, connectionId, cacheTtlSeconds);
  await mapWithLimit(invalidations, WORKER_MAX_OPEN_CONNECTIONS, (i) =>
    cache.invalidate(i.contactId, i.minVersion),
  );
}
