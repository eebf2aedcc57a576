import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  consumeWindow,
  type RateDecision,
  type WindowState,
} from "../../../src/acme/rate-limit/fixed-window.ts";
import { DEFAULT_BREAKER } from "../../../src/integration/resilience/circuit-breaker.ts";
import { LEARNING_POLL_MS, RateBudget } from "../../../src/integration/resilience/rate-budget.ts";
import type { AcmeRateClass, AttemptReport } from "../../../src/integration/session/protocol.ts";
import { SessionState } from "../../../src/integration/session/session-state.ts";

const seen = (remaining: number, resetSeconds: number) => ({
  limit: 5,
  windowSeconds: 10,
  remaining,
  resetSeconds,
});

describe("rate budget", () => {
  it("sends one call to learn Acme's quota and has the others ask again until its figures are in", () => {
    const budget = new RateBudget();
    expect(budget.reserve(0, "interactive", 1000)).toEqual({ admitted: true, waitMs: 0 });
    const learning = { admitted: false, retryAfterMs: LEARNING_POLL_MS, learning: true };
    for (let i = 0; i < 20; i++) expect(budget.reserve(50, "interactive", 1000)).toEqual(learning);
    budget.observe(2_000, seen(4, 10), 2_000); // a slow answer: the call, and 4 more of 5
    for (let i = 0; i < 4; i++)
      expect(budget.reserve(2_050, "interactive", 1000)).toEqual({ admitted: true, waitMs: 0 });
    expect(budget.reserve(2_050, "interactive", 1000)).toMatchObject({ admitted: false });
  });

  it("lets another call learn the quota when the first ends without figures, or its report never comes", () => {
    const budget = new RateBudget();
    expect(budget.reserve(0, "interactive", 1000)).toMatchObject({ admitted: true });
    expect(budget.reserve(10, "interactive", 1000)).toMatchObject({ learning: true });
    budget.observeNoFigures(); // it timed out, or Acme answered without rate-limit headers
    expect(budget.reserve(20, "interactive", 1000)).toEqual({ admitted: true, waitMs: 0 });
    expect(budget.reserve(30, "interactive", 1000)).toMatchObject({ learning: true });
    // Its report is lost: after a while another call goes.
    expect(budget.reserve(10_020, "interactive", 1000)).toEqual({ admitted: true, waitMs: 0 });
  });

  it("counts a call that may reach Acme after the window's earliest end in both windows", () => {
    const budget = new RateBudget();
    // Sent at 0, answered at 400: Acme's window of 10 s ends somewhere in (9 600, 10 400].
    budget.observe(400, seen(4, 10), 400);
    expect(budget.snapshot(400)).toMatchObject({ remaining: 4, scheduledNextWindow: 0 });
    budget.reserve(8_000, "interactive", 0); // well before: this window only
    expect(budget.snapshot(8_000)).toMatchObject({ remaining: 3, scheduledNextWindow: 0 });
    budget.reserve(9_300, "interactive", 0); // it may arrive after 9 600: both
    expect(budget.snapshot(9_300)).toMatchObject({ remaining: 2, scheduledNextWindow: 1 });
  });

  it("takes a slow answer about the current window for what it is, not for the next window", () => {
    const budget = new RateBudget();
    budget.observe(0, seen(4, 10)); // the window ends within (9 000, 10 000]
    // Sent at 4 900, answered at 9 900: Acme may have counted it at 4 900 with 6 s left, so
    // "t=6" can still mean this window, and "nothing left" must not become a fresh next window.
    budget.observe(9_900, seen(0, 6), 5_000);
    expect(budget.snapshot(9_900)).toMatchObject({ remaining: 0, scheduledNextWindow: 0, resetInMs: 100 });
    expect(budget.reserve(9_900, "interactive", 0)).toMatchObject({ admitted: false });
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

  it("times no call for the next window while the current one's end is only guessed", () => {
    const budget = new RateBudget();
    budget.observe(0, seen(5, 10));
    for (let i = 0; i < 5; i++) budget.reserve(20_000, "interactive", 0); // a new window, its end guessed
    // Its first call may reach Acme late: ask again once its answer says when the window ends.
    expect(budget.reserve(20_000, "interactive", 20_000)).toEqual({
      admitted: false,
      retryAfterMs: LEARNING_POLL_MS,
      learning: true,
    });
    budget.observe(20_005, seen(4, 10)); // Acme: it opened at most 5 ms ago
    // 30 005 + 20: the first call for the next window opens it alone...
    expect(budget.reserve(20_010, "interactive", 20_000)).toEqual({ admitted: true, waitMs: 10_015 });
    // ...and the next follows 50 ms behind it.
    expect(budget.reserve(20_010, "interactive", 20_000)).toEqual({ admitted: true, waitMs: 10_065 });
  });

  it("lets the earliest call open the next window alone, also after the window's end estimate comes down", () => {
    const budget = new RateBudget();
    budget.observe(0, seen(0, 10)); // the window ends by 10 000
    expect(budget.reserve(100, "interactive", 20_000)).toEqual({ admitted: true, waitMs: 9_920 });
    budget.observe(1_200, seen(0, 8)); // a later answer: it ends by 9 200
    // 9 220: earlier than the call already scheduled, so this one opens the window...
    expect(budget.reserve(1_300, "interactive", 20_000)).toEqual({ admitted: true, waitMs: 7_920 });
    // ...and the next follows 50 ms behind the first scheduled.
    expect(budget.reserve(1_300, "interactive", 20_000)).toEqual({ admitted: true, waitMs: 7_970 });
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

  it("lets background work take what is left in a window's tail, and says when the tail opens", () => {
    const budget = new RateBudget();
    budget.observe(0, { limit: 10, windowSeconds: 10, remaining: 10, resetSeconds: 10 });
    for (let i = 0; i < 5; i++) expect(budget.reserve(1, "background", 0)).toMatchObject({ admitted: true });
    // Half used before the tail: come back when it opens (2 s before the window's end), not later.
    expect(budget.reserve(1, "background", 0)).toEqual({ admitted: false, retryAfterMs: 7999 });
    // An interactive call before the tail still finds room.
    expect(budget.reserve(5_000, "interactive", 0)).toEqual({ admitted: true, waitMs: 0 });
    // In the tail, background takes the rest; the window is then full.
    const tail = Array.from({ length: 6 }, () => budget.reserve(8_000, "background", 0));
    expect(tail.filter((a) => a.admitted)).toHaveLength(4);
    // An interactive call that now finds the window full waits for the next one, within 3 s...
    const late = budget.reserve(8_100, "interactive", 2950);
    expect(late.admitted).toBe(true);
    expect(late.admitted && late.waitMs).toBeLessThanOrEqual(2000);
    // ...where background work cannot take that window past half before its tail (the interactive
    // call holds one of the ten, so four more).
    const next = Array.from({ length: 10 }, () => budget.reserve(8_200, "background", 5000));
    expect(next.filter((a) => a.admitted)).toHaveLength(4);
  });

  it("property: background never leaves an interactive call without a slot within 3 s", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 30_000 }), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 0, max: 30_000 }),
        (backgroundTimes, interactiveAt) => {
          const budget = new RateBudget();
          budget.observe(0, { limit: 10, windowSeconds: 10, remaining: 10, resetSeconds: 10 });
          const calls = [
            ...backgroundTimes.map((t) => ({ t, priority: "background" as const })),
            { t: interactiveAt, priority: "interactive" as const },
          ].sort((a, b) => a.t - b.t || (a.priority === "interactive" ? 1 : -1));
          for (const call of calls) {
            const admission = budget.reserve(
              call.t,
              call.priority,
              call.priority === "interactive" ? 2950 : 0,
            );
            if (call.priority === "interactive") expect(admission.admitted).toBe(true);
          }
        },
      ),
    );
  });

  it("holds off until Retry-After when Acme says 429 anyway", () => {
    const budget = new RateBudget();
    budget.observeRejection(0, 2000);
    expect(budget.reserve(100, "interactive", 1000)).toEqual({ admitted: false, retryAfterMs: 1000 });
    expect(budget.reserve(100, "interactive", 3000)).toEqual({ admitted: true, waitMs: 1900 });
    // That call is out learning the quota; once it ends without figures the next may go.
    expect(budget.reserve(1100, "interactive", 1000)).toMatchObject({ admitted: false, learning: true });
    budget.observeNoFigures();
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
 * one is answered (from the very first window, before anything is known), and coming back after a
 * refusal when `comeBackAfterMs` of the integration's Retry-After says. A call reaches Acme
 * `sendDelayMs()` after it was meant to go, Acme answers `latencyMs()` later, the report waits
 * `reportDelayMs()` in the isolate's batch, and the isolate's clock runs `skewMs` apart from the
 * session's (only durations travel between them). Acme's real fixed-window logic counts what
 * reaches it; the quota used is measured from the second window Acme opened to the last.
 */
function simulateClosedLoop(options: {
  limit: number;
  windowSeconds: number;
  clients: number;
  windows: number;
  comeBackAfterMs: (retryAfterMs: number) => number;
  sendDelayMs: () => number;
  latencyMs: () => number;
  reportDelayMs: () => number;
  skewMs: number;
}) {
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
    const permit = state.admit(at, "write", "interactive", 3000 - 50);
    if (!permit.admitted) {
      const back = at + options.comeBackAfterMs(permit.retryAfterMs);
      schedule(back, () => call(back));
      return;
    }
    const sentAt = at + permit.waitMs;
    const arrivesAt = sentAt + options.sendDelayMs();
    schedule(arrivesAt, () => {
      const { decision, state: next } = consumeWindow(acme, policy, arrivesAt);
      if (next.windowStart !== acme?.windowStart) windowStarts.push(next.windowStart);
      acme = next;
      if (decision.allowed) allowed.push(arrivesAt);
      else acme429s += 1;
      const answeredAt = arrivesAt + options.latencyMs();
      const reportedAt = answeredAt + options.reportDelayMs();
      schedule(reportedAt, () => {
        const report = answerReport("write", permit.probe, decision, answeredAt + options.skewMs);
        state.record(reportedAt, {
          ...report,
          ageMs: reportedAt - answeredAt,
          roundTripMs: answeredAt - sentAt,
        });
        call(reportedAt);
      });
    });
  };
  for (let i = 0; i < options.clients; i++) schedule(i, () => call(i));
  run();
  const from = windowStarts[1] ?? 0;
  const to = windowStarts[windowStarts.length - 1] ?? 0;
  const used = allowed.filter((t) => t >= from && t < to).length;
  const quota = ((to - from) / (options.windowSeconds * 1000)) * options.limit;
  return { quotaUsed: used / quota, acme429s, windows: windowStarts.length };
}

/** Clients on a quiet machine near Acme (5 ms answers) that honour Retry-After in whole seconds, rounded up. */
function simulateClients(options: {
  limit: number;
  windowSeconds: number;
  clients: number;
  windows: number;
}) {
  return simulateClosedLoop({
    ...options,
    comeBackAfterMs: (retryAfterMs) => Math.ceil(retryAfterMs / 1000) * 1000,
    sendDelayMs: () => 0,
    latencyMs: () => 5,
    reportDelayMs: () => 0,
    skewMs: 0,
  });
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

/**
 * The closed loop on a machine that is busy and far away: each delay drawn up to its bound (seeded),
 * refused callers back exactly when told.
 */
function simulateFarAndBusy(options: {
  limit: number;
  windowSeconds: number;
  clients: number;
  windows: number;
  sendDelayMs: number;
  latencyMs: number;
  reportDelayMs: number;
  skewMs: number;
  seed: number;
}) {
  const random = seededRandom(options.seed);
  return simulateClosedLoop({
    ...options,
    comeBackAfterMs: (retryAfterMs) => retryAfterMs,
    sendDelayMs: () => random() * options.sendDelayMs,
    latencyMs: () => random() * options.latencyMs,
    reportDelayMs: () => random() * options.reportDelayMs,
  });
}

/** A small deterministic generator of numbers in [0, 1). */
function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    return s / 2 ** 32;
  };
}

describe("a busy machine far from a slow Acme (virtual time)", () => {
  const conditions = {
    sendDelayMs: fc.integer({ min: 0, max: 400 }),
    reportDelayMs: fc.integer({ min: 0, max: 200 }),
    skewMs: fc.integer({ min: -3000, max: 3000 }),
    seed: fc.integer(),
  };

  it("draws no 429 at Acme, first window included, with Acme answering within half a window (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          ...conditions,
          limit: fc.integer({ min: 1, max: 40 }),
          windowSeconds: fc.integer({ min: 1, max: 10 }),
          overload: fc.integer({ min: 2, max: 4 }),
          latencyShare: fc.double({ min: 0, max: 0.5, noNaN: true }),
        }),
        ({ overload, latencyShare, ...o }) => {
          const latencyMs = Math.min(2500, latencyShare * o.windowSeconds * 1000);
          const run = simulateFarAndBusy({ ...o, latencyMs, clients: o.limit * overload, windows: 8 });
          expect(run.acme429s).toBe(0);
          expect(run.quotaUsed).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 20 },
    );
  }, 60_000);

  it("uses at least 95% of a realistic quota meanwhile (property)", () => {
    fc.assert(
      fc.property(
        fc.record({
          ...conditions,
          limit: fc.integer({ min: 10, max: 40 }),
          windowSeconds: fc.integer({ min: 5, max: 10 }),
          latencyMs: fc.integer({ min: 0, max: 500 }),
        }),
        (o) => {
          const run = simulateFarAndBusy({ ...o, clients: o.limit * 2, windows: 10 });
          expect(run.acme429s).toBe(0);
          expect(run.quotaUsed).toBeGreaterThanOrEqual(0.95);
        },
      ),
      { numRuns: 25 },
    );
  }, 60_000);
});
