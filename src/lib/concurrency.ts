/**
 * Runs `work` over `items` with at most `limit` calls in flight at once (a Worker holds at most
 * six outgoing connections open; more wait for a free one, their timers already running). Results
 * come back in the order of `items`; the first rejection rejects the whole, after the calls in
 * flight settle. Throws RangeError for a limit below 1.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  if (!(limit >= 1)) throw new RangeError(`concurrency limit must be at least 1, not ${limit}`);
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** Simultaneous open connections a Worker invocation may hold (Cloudflare Workers limits). */
export const MAX_OPEN_CONNECTIONS = 6;
