import type { RatePolicy } from "../config.ts";

export interface WindowState {
  windowStart: number;
  count: number;
}

export interface RateDecision {
  allowed: boolean;
  limit: number;
  windowSeconds: number;
  remaining: number;
  /** Seconds until the current window ends (at least 1). */
  resetSeconds: number;
  /** When the current window opened, epoch ms: calls with the same value counted in one window. */
  windowStartMs: number;
}

/** A window opens with the first request after the previous one closed, and lasts `windowSeconds`. */
export function windowStartFor(state: WindowState | null, nowMs: number, windowSeconds: number): number {
  if (state && nowMs >= state.windowStart && nowMs < state.windowStart + windowSeconds * 1000) {
    return state.windowStart;
  }
  return nowMs;
}

/**
 * Exact fixed-window counting: within one window exactly `limit` units are granted and the next
 * is refused. A refused request consumes nothing, so hammering a closed window does not extend it.
 */
export function consumeWindow(
  state: WindowState | null,
  policy: RatePolicy,
  nowMs: number,
  cost = 1,
): { decision: RateDecision; state: WindowState } {
  // A clock that steps back (NTP, the object restarting elsewhere) stays in the current window;
  // otherwise it would open an overlapping one and grant the limit twice.
  const now = state ? Math.max(nowMs, state.windowStart) : nowMs;
  const windowStart = windowStartFor(state, now, policy.windowSeconds);
  const current = state && state.windowStart === windowStart ? state.count : 0;
  const allowed = current + cost <= policy.limit;
  const count = allowed ? current + cost : current;
  const resetSeconds = Math.max(1, Math.ceil((windowStart + policy.windowSeconds * 1000 - now) / 1000));
  return {
    decision: {
      allowed,
      limit: policy.limit,
      windowSeconds: policy.windowSeconds,
      remaining: Math.max(0, policy.limit - count),
      resetSeconds,
      windowStartMs: windowStart,
    },
    state: { windowStart, count },
  };
}

/** `RateLimit-Policy` and `RateLimit` as in draft-ietf-httpapi-ratelimit-headers (structured fields). */
export function rateLimitHeaders(policyName: string, decision: RateDecision): Record<string, string> {
  return {
    "RateLimit-Policy": `"${policyName}";q=${decision.limit};w=${decision.windowSeconds}`,
    RateLimit: `"${policyName}";r=${decision.remaining};t=${decision.resetSeconds}`,
  };
}
