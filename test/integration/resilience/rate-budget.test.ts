import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { consumeWindow, type WindowState } from "../../../src/acme/rate-limit/fixed-window.ts";
import { RateBudget } from "../../../src/integration/resilience/rate-budget.ts";
import { SessionState } from "../../../src/integration/resilience/session-state.ts";

const seen = (remaining: number, resetSeconds: number) => ({
  limit: 5,
  windowSeconds: 10,
  remaining,
  resetSeconds,
});

describe("rate budget", () => {
  it("lets calls go freely until Acme's limits are known", () => {
    const budget = new RateBudget();
    for (let i = 0; i < 20; i++)
      expect(budget.reserve(0, "interactive", 1000)).toEqual({ admitted: true, waitMs: 0 });
  });

  it("grants what Acme has left, then a slot in the next window if the caller can wait for it", () => {
    const budget = new RateBudget();
    budget.observe(0, seen(2, 4)); // 3 used, window ends within 4 s
    expect(budget.reserve(10, "interactive", 5000)).toEqual({ admitted: true, waitMs: 0 });
    expect(budget.reserve(10, "interactive", 5000)).toEqual({ admitted: true, waitMs: 0 });
    const next = budget.reserve(10, "interactive", 5000);
    expect(next).toMatchObject({ admitted: true });
    expect(next.admitted && next.waitMs).toBeGreaterThanOrEqual(3990);
  });

  it("refuses at once, with when to come back, when no slot comes within the caller's wait", () => {
    const budget = new RateBudget();
    budget.observe(0, seen(0, 4));
    const refused = budget.reserve(0, "interactive", 3000);
    expect(refused.admitted).toBe(false);
    expect(!refused.admitted && refused.retryAfterMs).toBeGreaterThanOrEqual(4000);
  });

  it("keeps half of each window for interactive calls", () => {
    const budget = new RateBudget();
    budget.observe(0, { limit: 10, windowSeconds: 10, remaining: 10, resetSeconds: 10 });
    const background = Array.from({ length: 10 }, () => budget.reserve(1, "background", 0));
    expect(background.filter((a) => a.admitted)).toHaveLength(5);
    const interactive = Array.from({ length: 5 }, () => budget.reserve(1, "interactive", 0));
    expect(interactive.every((a) => a.admitted)).toBe(true);
  });

  it("holds off until Retry-After when Acme says 429 anyway", () => {
    const budget = new RateBudget();
    budget.observeRejection(0, 2000);
    expect(budget.reserve(100, "interactive", 1000)).toEqual({ admitted: false, retryAfterMs: 1900 });
    expect(budget.reserve(100, "interactive", 3000)).toEqual({ admitted: true, waitMs: 1900 });
  });

  it("ignores a late answer about a window that is already over", () => {
    const budget = new RateBudget();
    budget.observe(0, seen(5, 10));
    budget.observe(10_500, seen(0, 10)); // a new window, already exhausted by someone else
    budget.observe(10_600, seen(0, 1)); // late answer from the old window
    expect(budget.snapshot(10_700).resetInMs).toBeGreaterThan(9000);
  });
});

/**
 * Discrete-event simulation with virtual time: M callers far above Acme's limit, Acme's real
 * fixed-window logic, the integration's SessionState deciding. Nothing sleeps.
 */
function simulate(options: {
  limit: number;
  windowSeconds: number;
  callersPerSecond: number;
  seconds: number;
}) {
  const deadlineMs = 3000;
  const latencyMs = 5;
  const state = new SessionState();
  const policy = { limit: options.limit, windowSeconds: options.windowSeconds };
  let acme: WindowState | null = null;
  type Event = { at: number; run: () => void };
  const events: Event[] = [];
  const schedule = (at: number, run: () => void) => events.push({ at, run });
  const results = { answered: 0, refused: 0, maxWait: 0, acmeCalls: [] as number[], acme429: [] as number[] };
  let firstAnswerAt = Number.POSITIVE_INFINITY;

  const interval = 1000 / options.callersPerSecond;
  for (let t = 0; t < options.seconds * 1000; t += interval) {
    const arrival = Math.round(t);
    schedule(arrival, () => {
      const permit = state.admit(arrival, "read", "interactive", deadlineMs - 50);
      if (!permit.admitted) {
        results.refused += 1;
        return;
      }
      results.maxWait = Math.max(results.maxWait, permit.waitMs);
      schedule(arrival + permit.waitMs, () => {
        const sentAt = arrival + permit.waitMs;
        const { decision, state: next } = consumeWindow(acme, policy, sentAt);
        acme = next;
        results.acmeCalls.push(sentAt);
        if (!decision.allowed) results.acme429.push(sentAt);
        schedule(sentAt + latencyMs, () => {
          const at = sentAt + latencyMs;
          firstAnswerAt = Math.min(firstAnswerAt, at);
          state.report(at, {
            rateClass: "read",
            probe: permit.probe,
            health: "success",
            rate: {
              limit: decision.limit,
              windowSeconds: decision.windowSeconds,
              remaining: decision.remaining,
              resetSeconds: decision.resetSeconds,
            },
            ...(decision.allowed ? {} : { retryAfterMs: decision.resetSeconds * 1000 }),
          });
          results.answered += 1;
        });
      });
    });
  }
  while (events.length > 0) {
    events.sort((a, b) => a.at - b.at);
    events.shift()?.run();
  }
  return { ...results, firstAnswerAt };
}

describe("throttling against Acme's fixed windows (virtual time)", () => {
  it("sends no 429-drawing call in steady state, answers or refuses at once, and uses the quota", () => {
    const run = simulate({ limit: 10, windowSeconds: 2, callersPerSecond: 40, seconds: 30 });
    const steady429s = run.acme429.filter((t) => t > run.firstAnswerAt);
    expect(steady429s).toEqual([]);
    expect(run.maxWait).toBeLessThanOrEqual(3000);
    expect(run.refused).toBeGreaterThan(0);
    // Acme's quota over the run: 10 per 2 s window over 30 s, i.e. 150 calls at most.
    const allowed = run.acmeCalls.length - run.acme429.length;
    expect(allowed / 150).toBeGreaterThanOrEqual(0.9);
  });

  it("holds for any limit, window and overload (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 2, max: 8 }),
        (limit, windowSeconds, overload) => {
          const seconds = windowSeconds * 6;
          const run = simulate({
            limit,
            windowSeconds,
            callersPerSecond: (limit / windowSeconds) * overload,
            seconds,
          });
          expect(run.acme429.filter((t) => t > run.firstAnswerAt)).toEqual([]);
          expect(run.maxWait).toBeLessThanOrEqual(3000);
          const quota = (seconds / windowSeconds) * limit;
          expect((run.acmeCalls.length - run.acme429.length) / quota).toBeGreaterThanOrEqual(0.8);
        },
      ),
      { numRuns: 40 },
    );
  });
});
