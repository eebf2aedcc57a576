import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it, vi } from "vitest";
import { IsolateShare, REQUEST_FLUSH_MS } from "../../../src/integration/session/isolate-share.ts";
import { FLUSH_INTERVAL_MS, KEPT_MINUTES } from "../../../src/integration/session/minute-counters.ts";
import type { AttemptReport } from "../../../src/integration/session/protocol.ts";
import {
  addSample,
  LATENCY_BOUNDS_MS,
  latencyBucket,
  latencyQuantile,
  MINUTE_MS,
  type RequestTally,
} from "../../../src/integration/session/request-tally.ts";
import { type AcmeSessionRpc, SessionLink } from "../../../src/integration/session/session-link.ts";
import { api, createContact, newConnection } from "../helpers.ts";

/** A fresh AcmeSession of its own. */
function freshSession() {
  return env.ACME_SESSION.get(env.ACME_SESSION.idFromName(`minutes-${crypto.randomUUID()}`));
}

/** 2026-01-01T10:00:00Z, a minute boundary. */
const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);

function attempt(receivedAt: number, extra: Partial<AttemptReport> = {}): AttemptReport {
  return { rateClass: "read", probe: false, health: "success", receivedAt, ...extra };
}

function tallyOf(samples: Array<{ at: number; durationMs: number; cache?: "HIT" | "MISS" }>) {
  const tallies = new Map<number, RequestTally>();
  for (const sample of samples) addSample(tallies, sample);
  return [...tallies.values()];
}

describe("per-minute latency histogram", () => {
  it("puts a latency in the bucket whose bound it does not exceed, and anything over 30 s in the last", () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(1)).toBe(0);
    expect(latencyBucket(1.01)).toBe(1);
    expect(latencyBucket(100)).toBe(LATENCY_BOUNDS_MS.indexOf(100));
    expect(latencyBucket(120_000)).toBe(LATENCY_BOUNDS_MS.length);
  });

  it("estimates quantiles linearly within a bucket, and has none without samples", () => {
    expect(latencyQuantile(new Map(), 0.5)).toBeNull();
    // 100 samples in (50, 75]: the median is half way through the bucket.
    expect(latencyQuantile(new Map([[latencyBucket(60), 100]]), 0.5)).toBe(62.5);
    // 90 fast, 10 slow: p50 among the fast, p95 half way into the slow bucket.
    const mixed = new Map([
      [latencyBucket(4), 90],
      [latencyBucket(900), 10],
    ]);
    expect(latencyQuantile(mixed, 0.5)).toBeLessThanOrEqual(5);
    expect(latencyQuantile(mixed, 0.95)).toBe(875);
    // The open last bucket reads as its lower bound.
    expect(latencyQuantile(new Map([[LATENCY_BOUNDS_MS.length, 3]]), 0.5)).toBe(30_000);
  });
});

describe("AcmeSession per-minute counters (injected time)", () => {
  it("counts each attempt in the minute its answer arrived and each request in its minute", async () => {
    const session = freshSession();
    await session.record(
      [
        attempt(T0 - 1),
        attempt(T0, { retryAfterMs: 1000 }),
        attempt(T0 + MINUTE_MS - 1, { health: "failure" }),
        attempt(T0 + MINUTE_MS),
      ],
      tallyOf([
        { at: T0 - 1, durationMs: 3, cache: "HIT" },
        { at: T0, durationMs: 40, cache: "MISS" },
        { at: T0 + 1, durationMs: 40, cache: "HIT" },
        { at: T0 + 2, durationMs: 40 },
        { at: T0 + MINUTE_MS, durationMs: 700 },
      ]),
      T0 + MINUTE_MS,
    );
    const points = await session.minuteSeries(3, T0 + MINUTE_MS);
    expect(points.map((p) => p.time)).toEqual([T0 - MINUTE_MS, T0, T0 + MINUTE_MS].map((t) => t / 1000));
    const [before, first, second] = points;
    expect(before).toMatchObject({
      requests: 1,
      acmeCalls: 1,
      acme429s: 0,
      acmeFailures: 0,
      cacheHitRatio: 1,
    });
    expect(first).toMatchObject({
      requests: 3,
      acmeCalls: 2,
      acme429s: 1,
      acmeFailures: 1,
      cacheHitRatio: 0.5,
    });
    expect(first?.p50Ms).toBeGreaterThan(30);
    expect(first?.p50Ms).toBeLessThanOrEqual(50);
    expect(second).toMatchObject({ requests: 1, acmeCalls: 1, cacheHitRatio: null });
    expect(second?.p95Ms).toBeGreaterThan(500);
  });

  it("adds up batches from many isolates into the same minute", async () => {
    const session = freshSession();
    for (let i = 0; i < 5; i++) {
      await session.record(
        [attempt(T0 + i)],
        tallyOf([{ at: T0 + i, durationMs: 10, cache: "HIT" }]),
        T0 + i,
      );
    }
    const [point] = await session.minuteSeries(1, T0 + 30_000);
    expect(point).toMatchObject({ requests: 5, acmeCalls: 5, cacheHitRatio: 1 });
  });

  it("writes a burst of reports in one transaction per flush interval, and the alarm writes what waits", async () => {
    const session = freshSession();
    const rows = () =>
      runInDurableObject(session, (_instance, state) => ({
        counts: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM minute_counts").one().n,
        calls: state.storage.sql
          .exec<{ n: number }>("SELECT coalesce(sum(acme_calls), 0) AS n FROM minute_counts")
          .one().n,
      }));
    // The first report writes at once (nothing flushed yet); the next 19, within the interval, wait.
    for (let i = 0; i < 20; i++) await session.record([attempt(T0 + i)], [], T0 + i);
    expect(await rows()).toEqual({ counts: 1, calls: 1 });
    // The alarm set when they began to wait writes them.
    expect(await runDurableObjectAlarm(session)).toBe(true);
    expect(await rows()).toEqual({ counts: 1, calls: 20 });
    // A report after the interval writes itself and what waited with it.
    await session.record([attempt(T0 + 100)], [], T0 + 101);
    await session.record([attempt(T0 + FLUSH_INTERVAL_MS + 200)], [], T0 + FLUSH_INTERVAL_MS + 200);
    expect(await rows()).toEqual({ counts: 1, calls: 22 });
    // Reading the series writes first, so nothing waiting is missing from it.
    await session.record([attempt(T0 + FLUSH_INTERVAL_MS + 300)], [], T0 + FLUSH_INTERVAL_MS + 300);
    const [point] = await session.minuteSeries(1, T0 + 30_000);
    expect(point).toMatchObject({ acmeCalls: 23 });
  });

  it("keeps 24 hours of minutes: older rows are deleted as new minutes are written (>100 rows)", async () => {
    const session = freshSession();
    const minutes = KEPT_MINUTES + 120;
    // An hour of minutes per batch, written at the batch's last minute.
    for (let start = 0; start < minutes; start += 60) {
      const batch = Array.from(
        { length: Math.min(60, minutes - start) },
        (_, k) => T0 + (start + k) * MINUTE_MS,
      );
      await session.record(
        batch.map((at) => attempt(at)),
        tallyOf(
          batch.flatMap((at) => [
            { at, durationMs: 5 },
            { at, durationMs: 5 },
          ]),
        ),
        batch[batch.length - 1] ?? T0,
      );
    }
    expect(await session.storedMinutes()).toBe(KEPT_MINUTES);
    const now = T0 + (minutes - 1) * MINUTE_MS;
    const hour = await session.minuteSeries(60, now);
    expect(hour).toHaveLength(60);
    expect(hour.every((p) => p.requests === 2 && p.acmeCalls === 1)).toBe(true);
    // The first minute written is gone; the oldest kept is exactly 24 hours back from the newest.
    const day = await session.minuteSeries(KEPT_MINUTES, now);
    expect(day[0]?.time).toBe((now - (KEPT_MINUTES - 1) * MINUTE_MS) / 1000);
    expect(day.every((p) => p.requests === 2)).toBe(true);
    // An hour later with nothing written, the hour is all zeros.
    const quiet = await session.minuteSeries(60, now + 60 * MINUTE_MS);
    expect(quiet.every((p) => p.requests === 0 && p.p50Ms === null)).toBe(true);
  });

  it("bounds the span asked for to between one minute and 24 hours", async () => {
    const session = freshSession();
    expect(await session.minuteSeries(0, T0)).toHaveLength(1);
    expect(await session.minuteSeries(-5, T0)).toHaveLength(1);
    expect(await session.minuteSeries(1_000_000, T0)).toHaveLength(KEPT_MINUTES);
  });
});

describe("request tallies reach the session without a call per request", () => {
  function counting() {
    const stub = freshSession();
    const calls: Array<{ reports: number; requests: number }> = [];
    const rpc: AcmeSessionRpc = {
      begin: (input) => stub.begin(input),
      record: (reports, requests = []) => {
        calls.push({ reports: reports.length, requests: requests.reduce((n, t) => n + t.requests, 0) });
        return stub.record(reports, requests);
      },
      storeToken: (leaseId, token, expiresIn) => stub.storeToken(leaseId, token, expiresIn),
      releaseLease: (leaseId) => stub.releaseLease(leaseId),
      invalidateToken: (token) => stub.invalidateToken(token),
      refuseGrant: (leaseId, connectionId, presented, detail) =>
        stub.refuseGrant(leaseId, connectionId, presented, detail),
    };
    return { stub, rpc, calls };
  }

  /** Now, so the session (which prunes by its own clock) keeps what the test writes. */
  function sum(points: Array<{ requests: number; acmeCalls: number }>) {
    return points.reduce(
      (n, p) => ({ requests: n.requests + p.requests, acmeCalls: n.acmeCalls + p.acmeCalls }),
      {
        requests: 0,
        acmeCalls: 0,
      },
    );
  }

  it("makes no session call for cached reads until the oldest tally is REQUEST_FLUSH_MS old, then one", async () => {
    const { stub, rpc, calls } = counting();
    const share = new IsolateShare();
    const start = Date.now();
    for (let i = 0; i < 500; i++) {
      const at = start + Math.floor((i * (REQUEST_FLUSH_MS - 1)) / 500);
      expect(share.tally({ at, durationMs: 2, cache: "HIT" }, at)).toBe(false);
    }
    expect(calls).toEqual([]);
    const due = start + REQUEST_FLUSH_MS;
    expect(share.tally({ at: due, durationMs: 2, cache: "HIT" }, due)).toBe(true);
    await share.sendQueued((b) => rpc.record(b.attempts, b.requests), due);
    expect(calls).toEqual([{ reports: 0, requests: 501 }]);
    const points = await stub.minuteSeries(2, due);
    expect(sum(points)).toEqual({ requests: 501, acmeCalls: 0 });
    expect(points.filter((p) => p.requests > 0).every((p) => p.cacheHitRatio === 1)).toBe(true);
    // Nothing is left to send; the next tally starts a new wait.
    expect(share.tally({ at: due + 1, durationMs: 2 }, due + 1)).toBe(false);
  });

  it("sends the tallies with the next attempt report, in the same call", async () => {
    const { stub, rpc, calls } = counting();
    const share = new IsolateShare();
    const now = Date.now();
    const link = new SessionLink(rpc, share, { slotsAhead: false, now: () => now });
    share.tally({ at: now, durationMs: 2, cache: "HIT" }, now);
    share.tally({ at: now, durationMs: 3, cache: "HIT" }, now);
    await link.report(attempt(now));
    expect(calls).toEqual([{ reports: 1, requests: 2 }]);
    expect(sum(await stub.minuteSeries(2, now))).toEqual({ requests: 2, acmeCalls: 1 });
  });

  it("does not send while a batch call is in flight: the tally waits for the next one", async () => {
    const share = new IsolateShare();
    let release = () => {};
    const sent: number[] = [];
    const inFlight = share.sendQueued(
      (batch) =>
        new Promise<void>((resolve) => {
          sent.push(batch.requests.length);
          release = resolve;
        }),
      T0,
    );
    expect(share.tally({ at: T0 + REQUEST_FLUSH_MS, durationMs: 1 }, T0 + REQUEST_FLUSH_MS * 2)).toBe(false);
    release();
    await inFlight;
    expect(sent).toEqual([0]);
  });
});

describe("the integration's requests in a connection's minutes", () => {
  async function totals(connectionId: string) {
    const session = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(connectionId));
    const points = await session.minuteSeries(60);
    return {
      requests: points.reduce((n, p) => n + p.requests, 0),
      acmeCalls: points.reduce((n, p) => n + p.acmeCalls, 0),
      hits: points.some((p) => (p.cacheHitRatio ?? 0) > 0),
    };
  }

  /** Creates a contact (one call to Acme, whose report carries the tallies so far) and waits until it is counted. */
  async function writeAndWait(apiKey: string, connectionId: string) {
    const before = await totals(connectionId);
    await createContact(apiKey);
    await vi.waitFor(async () =>
      expect((await totals(connectionId)).acmeCalls).toBeGreaterThan(before.acmeCalls),
    );
    return totals(connectionId);
  }

  it("counts requests made with the connection's API key, cached reads included, with Acme's calls", async () => {
    const { apiKey, connectionId } = await newConnection();
    const contact = await createContact(apiKey);
    const reads = 5;
    const seen: Array<string | null> = [];
    for (let i = 0; i < reads; i++) {
      const res = await api(`/api/v1/contacts/${contact.id}`, { key: apiKey });
      expect(res.status).toBe(200);
      seen.push(res.headers.get("x-cache"));
    }
    expect(seen).toContain("HIT");
    const after = await writeAndWait(apiKey, connectionId);
    expect(after.requests).toBeGreaterThanOrEqual(reads + 1);
    expect(after.hits).toBe(true);
  });

  it("does not count requests refused before a connection is known (a wrong API key)", async () => {
    const { apiKey, connectionId } = await newConnection();
    const before = await writeAndWait(apiKey, connectionId);
    // Pending now: the tally of that write. The refused request must not join it.
    expect((await api("/api/v1/contacts", { key: "not-a-key" })).status).toBe(401);
    const after = await writeAndWait(apiKey, connectionId);
    expect(after.requests).toBe(before.requests + 1);
  });
});
