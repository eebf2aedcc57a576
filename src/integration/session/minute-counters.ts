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
 * Figures wait in memory at most this long (ms) before they are written to SQLite: a busy
 * connection's reports then cost one write transaction per interval, not one each. A session
 * lost in between (evicted, crashed) loses at most this much of its charts, never its counters'
 * consistency.
 */
export const FLUSH_INTERVAL_MS = 5000;

interface PendingMinute {
  requests: number;
  cacheHits: number;
  cacheLookups: number;
  acmeCalls: number;
  acme429s: number;
  acmeFailures: number;
  latency: Map<number, number>;
}

/**
 * Per-minute counters of one connection in its AcmeSession's SQLite storage: requests, cache
 * lookups and a latency histogram (from the integration's request tallies), Acme calls, 429s and
 * failures (from attempt reports). Figures are added in memory and written every
 * FLUSH_INTERVAL_MS (or before they are read). Rows older than 24 hours are deleted as new
 * minutes are written.
 */
export class MinuteCounters {
  private prunedAt = -1;
  /** Figures not yet written, by epoch minute. */
  private readonly pending = new Map<number, PendingMinute>();
  private flushedAt = 0;

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

  /**
   * Adds attempt reports (each in the minute its answer arrived, else `now`) and request tallies,
   * in memory: `flush` writes them. So a report costs no SQLite write of its own.
   */
  add(attempts: readonly AttemptReport[], tallies: readonly RequestTally[], now: number): void {
    for (const report of attempts) {
      const minute = this.pendingMinute(epochMinute(report.receivedAt ?? now));
      minute.acmeCalls += 1;
      if (report.retryAfterMs !== undefined) minute.acme429s += 1;
      if (report.health === "failure") minute.acmeFailures += 1;
    }
    for (const tally of tallies) {
      const minute = this.pendingMinute(tally.minute);
      minute.requests += tally.requests;
      minute.cacheHits += tally.cacheHits;
      minute.cacheLookups += tally.cacheLookups;
      for (const [bucket, count] of tally.latency) {
        minute.latency.set(bucket, (minute.latency.get(bucket) ?? 0) + count);
      }
    }
  }

  /** Whether figures wait in memory and the last flush is at least FLUSH_INTERVAL_MS old. */
  flushDue(now: number): boolean {
    return this.pending.size > 0 && now - this.flushedAt >= FLUSH_INTERVAL_MS;
  }

  /** Whether figures wait in memory to be written. */
  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  /**
   * Writes the figures waiting in memory (one upsert per minute, and per latency bucket) and
   * prunes old minutes. The session runs it in a storage transaction.
   */
  flush(now: number): void {
    for (const [minute, row] of this.pending) {
      this.sql.exec(
        `INSERT INTO minute_counts (minute, requests, cache_hits, cache_lookups, acme_calls, acme_429s, acme_failures)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (minute) DO UPDATE SET requests = requests + excluded.requests,
           cache_hits = cache_hits + excluded.cache_hits, cache_lookups = cache_lookups + excluded.cache_lookups,
           acme_calls = acme_calls + excluded.acme_calls, acme_429s = acme_429s + excluded.acme_429s,
           acme_failures = acme_failures + excluded.acme_failures`,
        minute,
        row.requests,
        row.cacheHits,
        row.cacheLookups,
        row.acmeCalls,
        row.acme429s,
        row.acmeFailures,
      );
      for (const [bucket, count] of row.latency) {
        this.sql.exec(
          `INSERT INTO minute_latency (minute, bucket, count) VALUES (?, ?, ?)
           ON CONFLICT (minute, bucket) DO UPDATE SET count = count + excluded.count`,
          minute,
          bucket,
          count,
        );
      }
    }
    this.pending.clear();
    this.flushedAt = now;
    this.prune(now);
  }

  private pendingMinute(minute: number): PendingMinute {
    let row = this.pending.get(minute);
    if (!row) {
      row = {
        requests: 0,
        cacheHits: 0,
        cacheLookups: 0,
        acmeCalls: 0,
        acme429s: 0,
        acmeFailures: 0,
        latency: new Map(),
      };
      this.pending.set(minute, row);
    }
    return row;
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

  /** How many minutes have rows (for tests and the status of pruning); figures in memory not counted. */
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
