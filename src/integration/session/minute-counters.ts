import type { AttemptReport } from "./protocol.ts";
import { epochMinute, latencyQuantile, MINUTE_MS, type RequestTally } from "./request-tally.ts";

/** Minutes of figures a session keeps (24 hours). */
export const KEPT_MINUTES = 24 * 60;

/** One minute of a connection's figures, as the console charts them. */
export interface MinutePoint {
  /** The minute's start (epoch seconds, as uPlot's time axis takes it). */
  time: number;
  requests: number;
  acmeCalls: number;
  acme429s: number;
  /** Attempts Acme answered with a 5xx, or did not answer (timeout, network error). */
  acmeFailures: number;
  /** Fresh cache hits over cache lookups; null with no lookups. */
  cacheHitRatio: number | null;
  /** Estimated from the minute's latency histogram (ms); null with no requests. */
  p50Ms: number | null;
  p95Ms: number | null;
}

interface CountRow extends Record<string, SqlStorageValue> {
  minute: number;
  requests: number;
  cache_hits: number;
  cache_lookups: number;
  acme_calls: number;
  acme_429s: number;
  acme_failures: number;
}

/**
 * Per-minute counters of one connection in its AcmeSession's SQLite storage: requests, cache
 * lookups and a latency histogram (from the integration's request tallies), Acme calls, 429s and
 * failures (from attempt reports). Rows older than 24 hours are deleted as new minutes are written.
 */
export class MinuteCounters {
  private prunedAt = -1;

  constructor(private readonly sql: SqlStorage) {}

  /** Makes the tables (idempotent); the session runs it under blockConcurrencyWhile. */
  migrate(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS minute_counts (
      minute INTEGER PRIMARY KEY,
      requests INTEGER NOT NULL DEFAULT 0,
      cache_hits INTEGER NOT NULL DEFAULT 0,
      cache_lookups INTEGER NOT NULL DEFAULT 0,
      acme_calls INTEGER NOT NULL DEFAULT 0,
      acme_429s INTEGER NOT NULL DEFAULT 0,
      acme_failures INTEGER NOT NULL DEFAULT 0
    )`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS minute_latency (
      minute INTEGER NOT NULL,
      bucket INTEGER NOT NULL,
      count INTEGER NOT NULL,
      PRIMARY KEY (minute, bucket)
    ) WITHOUT ROWID`);
  }

  /** Adds attempt reports (each in the minute its answer arrived, else `now`) and request tallies. */
  add(reports: readonly AttemptReport[], tallies: readonly RequestTally[], now: number): void {
    const attempts = new Map<number, { calls: number; rejected: number; failed: number }>();
    for (const report of reports) {
      const minute = epochMinute(report.receivedAt ?? now);
      const row = attempts.get(minute) ?? { calls: 0, rejected: 0, failed: 0 };
      row.calls += 1;
      if (report.retryAfterMs !== undefined) row.rejected += 1;
      if (report.health === "failure") row.failed += 1;
      attempts.set(minute, row);
    }
    for (const [minute, row] of attempts) {
      this.sql.exec(
        `INSERT INTO minute_counts (minute, acme_calls, acme_429s, acme_failures) VALUES (?, ?, ?, ?)
         ON CONFLICT (minute) DO UPDATE SET acme_calls = acme_calls + excluded.acme_calls,
           acme_429s = acme_429s + excluded.acme_429s, acme_failures = acme_failures + excluded.acme_failures`,
        minute,
        row.calls,
        row.rejected,
        row.failed,
      );
    }
    for (const tally of tallies) {
      this.sql.exec(
        `INSERT INTO minute_counts (minute, requests, cache_hits, cache_lookups) VALUES (?, ?, ?, ?)
         ON CONFLICT (minute) DO UPDATE SET requests = requests + excluded.requests,
           cache_hits = cache_hits + excluded.cache_hits, cache_lookups = cache_lookups + excluded.cache_lookups`,
        tally.minute,
        tally.requests,
        tally.cacheHits,
        tally.cacheLookups,
      );
      for (const [bucket, count] of tally.latency) {
        this.sql.exec(
          `INSERT INTO minute_latency (minute, bucket, count) VALUES (?, ?, ?)
           ON CONFLICT (minute, bucket) DO UPDATE SET count = count + excluded.count`,
          tally.minute,
          bucket,
          count,
        );
      }
    }
    this.prune(now);
  }

  /** Deletes minutes older than KEPT_MINUTES before `now`; at most once per minute. */
  prune(now: number): void {
    const current = epochMinute(now);
    if (current === this.prunedAt) return;
    this.prunedAt = current;
    const oldest = current - KEPT_MINUTES + 1;
    this.sql.exec("DELETE FROM minute_counts WHERE minute < ?", oldest);
    this.sql.exec("DELETE FROM minute_latency WHERE minute < ?", oldest);
  }

  /** How many minutes have rows (for tests and the status of pruning). */
  storedMinutes(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM minute_counts").one().n;
  }

  /** The last `minutes` minutes up to and including the one `now` is in, one point each, oldest first (empty minutes are zeros). */
  series(now: number, minutes = 60): MinutePoint[] {
    const last = epochMinute(now);
    const first = last - minutes + 1;
    const counts = new Map<number, CountRow>();
    for (const row of this.sql.exec<CountRow>(
      "SELECT * FROM minute_counts WHERE minute BETWEEN ? AND ?",
      first,
      last,
    )) {
      counts.set(row.minute, row);
    }
    const latency = new Map<number, Map<number, number>>();
    for (const row of this.sql.exec<{ minute: number; bucket: number; count: number }>(
      "SELECT minute, bucket, count FROM minute_latency WHERE minute BETWEEN ? AND ?",
      first,
      last,
    )) {
      const buckets = latency.get(row.minute) ?? new Map<number, number>();
      buckets.set(row.bucket, row.count);
      latency.set(row.minute, buckets);
    }
    const points: MinutePoint[] = [];
    for (let minute = first; minute <= last; minute++) {
      const row = counts.get(minute);
      const buckets = latency.get(minute) ?? new Map<number, number>();
      points.push({
        time: (minute * MINUTE_MS) / 1000,
        requests: row?.requests ?? 0,
        acmeCalls: row?.acme_calls ?? 0,
        acme429s: row?.acme_429s ?? 0,
        acmeFailures: row?.acme_failures ?? 0,
        cacheHitRatio: row && row.cache_lookups > 0 ? row.cache_hits / row.cache_lookups : null,
        p50Ms: latencyQuantile(buckets, 0.5),
        p95Ms: latencyQuantile(buckets, 0.95),
      });
    }
    return points;
  }
}
