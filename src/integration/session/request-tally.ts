// Per-minute figures of the integration's own requests for one connection, kept in a Worker
// isolate until they go to the connection's AcmeSession with the next batch of attempt reports.
// Latency is a fixed histogram per minute, so tallies from many isolates add up exactly and
// percentiles are estimated the way Prometheus' histogram_quantile does (linear within a bucket).

/** Upper bounds (ms) of the latency buckets; one more bucket counts everything slower. */
export const LATENCY_BOUNDS_MS = [
  1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10_000, 30_000,
] as const;

/** One minute (ms in an epoch minute). */
export const MINUTE_MS = 60_000;

/** The epoch minute (whole minutes since 1970) that `ms` (epoch ms) falls in. */
export function epochMinute(ms: number): number {
  return Math.floor(ms / MINUTE_MS);
}

/** The index of the latency bucket that `ms` falls in (the last one for anything over 30 s). */
export function latencyBucket(ms: number): number {
  const index = LATENCY_BOUNDS_MS.findIndex((bound) => ms <= bound);
  return index === -1 ? LATENCY_BOUNDS_MS.length : index;
}

/**
 * The `q` quantile (0..1) of a latency histogram (counts per bucket, by index), in ms; null with
 * no samples. Linear within the bucket the rank falls in; the open last bucket reads as its lower bound.
 */
export function latencyQuantile(counts: ReadonlyMap<number, number>, q: number): number | null {
  let total = 0;
  for (const count of counts.values()) total += count;
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let bucket = 0; bucket <= LATENCY_BOUNDS_MS.length; bucket++) {
    const count = counts.get(bucket) ?? 0;
    if (count > 0 && below + count >= rank) {
      const lower = bucket === 0 ? 0 : LATENCY_BOUNDS_MS[bucket - 1];
      const upper = LATENCY_BOUNDS_MS[bucket];
      if (lower === undefined || upper === undefined) return lower ?? null;
      return lower + ((upper - lower) * (rank - below)) / count;
    }
    below += count;
  }
  return null;
}

/** How one request to the integration went, as the access log saw it. */
export interface RequestSample {
  /** When it was answered (epoch ms). */
  at: number;
  durationMs: number;
  cache?: "HIT" | "MISS" | "STALE" | undefined;
}

/** A minute's requests: how many, how many looked in the cache and found a fresh copy, and their latency histogram. */
export interface RequestTally {
  minute: number;
  requests: number;
  /** Reads answered from a fresh cached copy (HIT). */
  cacheHits: number;
  /** Reads that looked in the cache (HIT, MISS or STALE). */
  cacheLookups: number;
  /** [bucket index, count] pairs: only the buckets used. */
  latency: Array<[number, number]>;
}

/** Adds a sample to the tallies (by minute) in place. */
export function addSample(tallies: Map<number, RequestTally>, sample: RequestSample): void {
  const minute = epochMinute(sample.at);
  let tally = tallies.get(minute);
  if (!tally) {
    tally = { minute, requests: 0, cacheHits: 0, cacheLookups: 0, latency: [] };
    tallies.set(minute, tally);
  }
  tally.requests += 1;
  if (sample.cache) tally.cacheLookups += 1;
  if (sample.cache === "HIT") tally.cacheHits += 1;
  const bucket = latencyBucket(sample.durationMs);
  const entry = tally.latency.find(([b]) => b === bucket);
  if (entry) entry[1] += 1;
  else tally.latency.push([bucket, 1]);
}
