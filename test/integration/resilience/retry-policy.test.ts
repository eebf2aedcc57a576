import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_RETRY_POLICY,
  fullJitterDelay,
  planRetry,
  retryDelay,
} from "../../../src/integration/resilience/retry-policy.ts";
import { parseRetryAfter } from "../../../src/lib/backoff.ts";

const policy = { baseMs: 100, capMs: 2000, maxAttempts: 5 };

describe("retry policy", () => {
  it("keeps every full-jitter delay within [0, min(cap, base * 2^n)]", () => {
    fc.assert(
      fc.property(
        fc.nat(40),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, draw) => {
          const delay = fullJitterDelay(attempt, policy, () => draw);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThanOrEqual(Math.min(policy.capMs, policy.baseMs * 2 ** attempt));
        },
      ),
    );
  });

  it("spreads delays over the whole range rather than a fixed backoff", () => {
    const delays = new Set(Array.from({ length: 50 }, (_, i) => fullJitterDelay(3, policy, () => i / 50)));
    expect(delays.size).toBeGreaterThan(40);
  });

  it("never retries sooner than Retry-After", () => {
    fc.assert(
      fc.property(
        fc.nat(10),
        fc.integer({ min: 0, max: 120_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, retryAfterMs, draw) => {
          expect(retryDelay(attempt, retryAfterMs, policy, () => draw)).toBeGreaterThanOrEqual(retryAfterMs);
        },
      ),
    );
  });

  it("reads Retry-After as seconds or as an HTTP date", () => {
    const now = Date.parse("2026-11-22T10:00:00Z");
    expect(parseRetryAfter("2", now)).toBe(2000);
    expect(parseRetryAfter("Sun, 22 Nov 2026 10:00:05 GMT", now)).toBe(5000);
    expect(parseRetryAfter("Sun, 22 Nov 2026 09:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter("-1", now)).toBeNull();
    expect(parseRetryAfter("soon", now)).toBeNull();
    expect(parseRetryAfter("1.5", now)).toBeNull();
  });

  it("does not attempt a retry that cannot finish before the deadline", () => {
    const base = { attempt: 0, now: 1000, minAttemptMs: 50, policy, random: () => 0.5 };
    expect(planRetry({ ...base, retryAfterMs: null, deadline: 4000 })).toMatchObject({ retry: true });
    expect(planRetry({ ...base, retryAfterMs: 2000, deadline: 2500 })).toEqual({
      retry: false,
      reason: "deadline",
    });
    expect(planRetry({ ...base, retryAfterMs: 1900, deadline: 2949 })).toEqual({
      retry: false,
      reason: "deadline",
    });
    expect(planRetry({ ...base, retryAfterMs: 1900, deadline: 2950 })).toEqual({
      retry: true,
      delayMs: 1900,
    });
  });

  it("stops after the last attempt whatever the deadline", () => {
    const decision = planRetry({
      attempt: DEFAULT_RETRY_POLICY.maxAttempts - 1,
      retryAfterMs: null,
      now: 0,
      deadline: 1e9,
      minAttemptMs: 0,
      policy: DEFAULT_RETRY_POLICY,
      random: () => 0,
    });
    expect(decision).toEqual({ retry: false, reason: "attempts" });
  });
});
