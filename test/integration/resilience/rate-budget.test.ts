import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  consumeWindow,
  type RateDecision,
  type WindowState,
} from "../../../src/acme/rate-limit/fixed-window.ts";
import { DEFAULT_BREAKER } from "../../../src/integration/resilience/circuit-breaker.ts";
import { RateBudget } from "../../../src/integration/resilience/rate-budget.ts";
import type { AcmeRateClass, AttemptReport } from "../../../src/integration/session/protocol.ts";
import { SessionState } from "../../../src/integration/session/session-state.ts";

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

  it("refuses at once when no slot comes within the caller's wait, saying when a retry would be queued", () => {
    const budget = new RateBudget();
    budget.observe(0, seen(0, 4)); // nothing left; the next window opens at 4 s
    const refused = budget.reserve(0, "interactive", 3000);
    expect(refused).toEqual({ admitted: false, retryAfterMs: 1120 }); // 4020 - (3000 - 100)
    // The same call, back when told, waits for the window here instead of being refused again.
    expect(budget.reserve(1120, "interactive", 3000)).toEqual({ admitted: true, waitMs: 2900 });
    // It opens that window alone; the others follow a moment later.
    for (let i = 0; i < 4; i++)
      expect(budget.reserve(1120, "interactive", 3000)).toEqual({ admitted: true, waitMs: 2950 });
    // Once the next window is spoken for, the retry is aimed at the one after it.
    const full = budget.reserve(1120, "interactive", 3000);
    expect(full).toEqual({ admitted: false, retryAfterMs: 2950 + 10_000 + 100 - 2900 });
  });

  it("lets the earliest call open the next window alone, also after the window's end estimate comes down", () => {
    const budget = new RateBudget();
    budget.observe(0, seen(5, 10));
    for (let i = 0; i < 5; i++) budget.reserve(20_000, "interactive", 0); // a new window, its end guessed
    expect(budget.reserve(20_000, "interactive", 20_000)).toEqual({ admitted: true, waitMs: 10_120 });
    budget.observe(20_005, seen(4, 10)); // Acme: it opened at most 5 ms ago
    // 30 005 + 20: earlier than the call scheduled on the guess, so this one opens the window...
    expect(budget.reserve(20_010, "interactive", 20_000)).toEqual({ admitted: true, waitMs: 10_015 });
    // ...and the next follows 50 ms behind it.
    expect(budget.reserve(20_010, "interactive", 20_000)).toEqual({ admitted: true, waitMs: 10_065 });
  });

  it("hands slots ahead out of what is left: a quarter at most, never near the window's end", () => {
    const budget = new RateBudget();
    expect(budget.reserveAhead(0, "interactive", 16, 250)).toEqual({ count: 0, until: 0, window: 0 }); // limit unknown
    budget.observe(0, { limit: 40, windowSeconds: 10, remaining: 39, resetSeconds: 10 });
    expect(budget.reserveAhead(100, "interactive", 16, 250)).toEqual({ count: 9, until: 350, window: 0 }); // (40 - 1) / 4
    expect(budget.reserveAhead(100, "interactive", 2, 250)).toEqual({ count: 2, until: 350, window: 0 });
    expect(budget.snapshot(100).remaining).toBe(40 - 1 - 9 - 2);
    expect(budget.reserveAhead(100, "background", 16, 250)).toEqual({ count: 2, until: 350, window: 0 }); // (20 - 12) / 4
    expect(budget.reserveAhead(8_000, "interactive", 16, 250)).toEqual({ count: 6, until: 8_250, window: 0 });
    // Slots end 1.5 s before the estimated end, where a call could land in Acme's next window.
    expect(budget.reserveAhead(8_300, "interactive", 16, 250)).toEqual({ count: 5, until: 8_500, window: 0 });
    expect(budget.reserveAhead(8_500, "interactive", 16, 250)).toMatchObject({ count: 0 });
    budget.observeRejection(8_000, 1000);
    expect(budget.reserveAhead(8_100, "interactive", 16, 250)).toMatchObject({ count: 0 }); // Acme said 429
  });

  it("takes back slots that went unused, only into the window they came from", () => {
    const budget = new RateBudget();
    budget.observe(0, { limit: 40, windowSeconds: 10, remaining: 40, resetSeconds: 10 });
    const slots = budget.reserveAhead(0, "interactive", 8, 250);
    expect(budget.snapshot(300).remaining).toBe(32);
    budget.giveBack(300, slots.window, 5);
    expect(budget.snapshot(300).remaining).toBe(37);
    const late = budget.reserveAhead(400, "interactive", 8, 250);
    budget.observe(10_500, { limit: 40, windowSeconds: 10, remaining: 39, resetSeconds: 10 }); // next window
    budget.giveBack(10_600, late.window, 8);
    expect(budget.snapshot(10_600).remaining).toBe(39);
  });

  it("hands no slots ahead while the circuit is not closed", () => {
    const state = new SessionState({ ...DEFAULT_BREAKER, failureThreshold: 1, openMs: 1000 });
    state.record(0, { rateClass: "read", probe: false, health: "success", rate: seen(5, 10) });
    expect(state.reserveAhead(0, "read", "interactive", 4, 250)).toEqual({ count: 1, until: 250, window: 0 });
    state.record(10, { rateClass: "read", probe: false, health: "failure" });
    expect(state.reserveAhead(20, "read", "interactive", 4, 250)).toBeNull(); // open
    const probe = state.admit(1_100, "read", "interactive", 0);
    expect(probe).toMatchObject({ admitted: true, probe: true });
    expect(state.reserveAhead(1_100, "read", "interactive", 4, 250)).toBeNull(); // half-open
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
    expect(budget.reserve(100, "interactive", 1000)).toEqual({ admitted: false, retryAfterMs: 1000 });
    expect(budget.reserve(100, "interactive", 3000)).toEqual({ admitted: true, waitMs: 1900 });
    expect(budget.reserve(1100, "interactive", 1000)).toEqual({ admitted: true, waitMs: 900 });
  });

  it("ignores a late answer about a window that is already over", () => {
    const budget = new RateBudget();
    budget.observe(0, seen(5, 10));
    budget.observe(10_500, seen(0, 10)); // a new window, already exhausted by someone else
    budget.observe(10_600, seen(0, 1)); // late answer from the old window
    expect(budget.snapshot(10_700).resetInMs).toBeGreaterThan(9000);
  });
});

/** Events in virtual time, run in time order; an event may schedule more. Nothing sleeps. */
function virtualTime() {
  const events: Array<{ at: number; run: () => void }> = [];
  return {
    schedule: (at: number, run: () => void) => {
      events.push({ at, run });
    },
    run: () => {
      while (events.length > 0) {
        events.sort((a, b) => a.at - b.at);
        events.shift()?.run();
      }
    },
  };
}

/** What AcmeClient reports of an Acme answer carrying this rate-limit decision. */
function answerReport(
  rateClass: AcmeRateClass,
  probe: boolean,
  decision: RateDecision,
  receivedAt?: number,
): AttemptReport {
  return {
    rateClass,
    probe,
    health: "success",
    ...(receivedAt !== undefined ? { receivedAt } : {}),
    rate: {
      limit: decision.limit,
      windowSeconds: decision.windowSeconds,
      remaining: decision.remaining,
      resetSeconds: decision.resetSeconds,
    },
    ...(decision.allowed ? {} : { retryAfterMs: decision.resetSeconds * 1000 }),
  };
}

/**
 * Discrete-event simulation with virtual time: M callers far above Acme's limit, Acme's real
 * fixed-window logic, the integration's SessionState deciding.
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
  const { schedule, run } = virtualTime();
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
          state.record(at, answerReport("read", permit.probe, decision));
          results.answered += 1;
        });
      });
    });
  }
  run();
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

/**
 * Closed loop in virtual time: `clients` callers, each sending its next call as soon as the last
 * one is answered, and honouring the integration's Retry-After as an HTTP client must (whole
 * seconds, rounded up). Acme's real fixed-window logic counts what reaches it.
 */
function simulateClients(options: {
  limit: number;
  windowSeconds: number;
  clients: number;
  windows: number;
}) {
  const latencyMs = 5;
  const maxWaitMs = 3000 - 50;
  const state = new SessionState();
  const policy = { limit: options.limit, windowSeconds: options.windowSeconds };
  const endAt = options.windows * options.windowSeconds * 1000;
  let acme: WindowState | null = null;
  const windowStarts: number[] = [];
  const allowed: number[] = [];
  let acme429s = 0;
  const { schedule, run } = virtualTime();

  const call = (at: number) => {
    if (at >= endAt) return;
    const permit = state.admit(at, "write", "interactive", maxWaitMs);
    if (!permit.admitted) {
      const back = at + Math.ceil(permit.retryAfterMs / 1000) * 1000;
      schedule(back, () => call(back));
      return;
    }
    const sentAt = at + permit.waitMs;
    schedule(sentAt, () => {
      const { decision, state: next } = consumeWindow(acme, policy, sentAt);
      if (next.windowStart !== acme?.windowStart) windowStarts.push(next.windowStart);
      acme = next;
      if (decision.allowed) allowed.push(sentAt);
      else acme429s += 1;
      const answeredAt = sentAt + latencyMs;
      schedule(answeredAt, () => {
        state.record(answeredAt, answerReport("write", permit.probe, decision, answeredAt));
        call(answeredAt);
      });
    });
  };
  for (let i = 0; i < options.clients; i++) schedule(i, () => call(i));
  run();
  // Steady state: from the second window Acme opened to the last one it opened.
  const from = windowStarts[1] ?? 0;
  const to = windowStarts[windowStarts.length - 1] ?? 0;
  const used = allowed.filter((t) => t >= from && t < to).length;
  const quota = ((to - from) / (options.windowSeconds * 1000)) * options.limit;
  return { quotaUsed: used / quota, acme429s, windows: windowStarts.length };
}

describe("clients that honour Retry-After (virtual time)", () => {
  it.each([
    { limit: 30, windowSeconds: 5, clients: 40 },
    { limit: 10, windowSeconds: 2, clients: 15 },
    { limit: 60, windowSeconds: 10, clients: 100 },
  ])("use at least 97% of $limit per $windowSeconds s with $clients clients, and draw no 429", (quota) => {
    const run = simulateClients({ ...quota, windows: 30 });
    expect(run.windows).toBeGreaterThanOrEqual(25);
    expect(run.acme429s).toBe(0);
    expect(run.quotaUsed).toBeGreaterThanOrEqual(0.97);
    expect(run.quotaUsed).toBeLessThanOrEqual(1);
  });
});
