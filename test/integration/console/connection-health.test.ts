import { describe, expect, it } from "vitest";
import {
  healthVerdict,
  quotaUsed,
  type SessionStatus,
} from "../../../src/integration/console/connection-health.ts";

import { SessionState } from "../../../src/integration/session/session-state.ts";

const budget = (limit: number | null, remaining: number | null) => ({
  limit,
  windowSeconds: limit === null ? null : 10,
  remaining,
  scheduledNextWindow: 0,
  resetInMs: 0,
});

function status(overrides: Partial<SessionStatus> = {}): SessionStatus {
  return {
    circuit: { state: "closed", recentFailures: 0, retryAfterMs: 0 },
    budgets: { read: budget(100, 100), write: budget(50, 50), delete: budget(20, 20) },
    token: { expiresAt: new Date(Date.UTC(2026, 0, 1, 1)).toISOString() },
    // A new session's counters, all zero, whatever counters it has.
    counters: { ...new SessionState().counters },
    since: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    ...overrides,
  } as SessionStatus;
}

const NOW = Date.UTC(2026, 0, 1, 0, 30);

describe("connection health", () => {
  it("reports the most used rate class's share of its window, ignoring classes not learned yet", () => {
    expect(quotaUsed({ read: budget(100, 60), write: budget(50, 10), delete: budget(null, null) })).toBe(0.8);
    expect(
      quotaUsed({ read: budget(null, null), write: budget(null, null), delete: budget(null, null) }),
    ).toBeNull();
    // A stale remaining above the limit, or below zero, stays within 0-100%.
    expect(quotaUsed({ read: budget(10, 12), write: budget(10, -3), delete: budget(0, 0) })).toBe(1);
  });

  it("is healthy only with a closed circuit, a live token and webhooks", () => {
    expect(healthVerdict(status(), true, NOW).level).toBe("healthy");
    expect(healthVerdict(status({ token: null }), true, NOW).level).toBe("healthy");
    expect(healthVerdict(status(), false, NOW)).toMatchObject({ level: "degraded", reason: /No webhooks/ });
    const expired = status({ token: { expiresAt: new Date(NOW - 1).toISOString() } });
    expect(healthVerdict(expired, true, NOW)).toMatchObject({ level: "degraded", reason: /expired/ });
    const probing = status({ circuit: { state: "half_open", recentFailures: 5, retryAfterMs: 0 } });
    expect(healthVerdict(probing, true, NOW).level).toBe("degraded");
    const open = status({ circuit: { state: "open", recentFailures: 9, retryAfterMs: 4000 } });
    expect(healthVerdict(open, true, NOW).level).toBe("failing");
  });
});
