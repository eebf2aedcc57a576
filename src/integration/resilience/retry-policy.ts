import { fullJitterDelay as jitter } from "../../lib/backoff.ts";

// When and how long to wait before retrying a call to Acme. Plain functions: time and randomness
// come in as arguments, so every rule here is tested with fake time.

export interface RetryPolicy {
  /** First backoff ceiling; attempt n waits up to min(capMs, baseMs * 2^n). */
  baseMs: number;
  capMs: number;
  maxAttempts: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { baseMs: 100, capMs: 2000, maxAttempts: 5 };

/** Full jitter (AWS architecture blog) with this policy's base and cap. */
export function fullJitterDelay(attempt: number, policy: RetryPolicy, random: () => number): number {
  return jitter(attempt, policy.baseMs, policy.capMs, random);
}

/** The wait before the next attempt: jittered backoff, but never sooner than Acme asked. */
export function retryDelay(
  attempt: number,
  retryAfterMs: number | null,
  policy: RetryPolicy,
  random: () => number,
): number {
  return Math.max(fullJitterDelay(attempt, policy, random), retryAfterMs ?? 0);
}

export type RetryDecision =
  | { retry: true; delayMs: number }
  | { retry: false; reason: "attempts" | "deadline" };

/**
 * Retry only if the wait and one more (minimal) attempt still fit before the deadline; a retry
 * that cannot finish in time is not attempted, so the caller hears at once.
 */
export function planRetry(input: {
  attempt: number;
  retryAfterMs: number | null;
  now: number;
  deadline: number;
  minAttemptMs: number;
  policy: RetryPolicy;
  random: () => number;
}): RetryDecision {
  if (input.attempt + 1 >= input.policy.maxAttempts) return { retry: false, reason: "attempts" };
  const delayMs = retryDelay(input.attempt, input.retryAfterMs, input.policy, input.random);
  if (input.now + delayMs + input.minAttemptMs > input.deadline) return { retry: false, reason: "deadline" };
  return { retry: true, delayMs };
}
