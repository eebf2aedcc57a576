// Backoff arithmetic both systems use: Acme when redelivering webhooks, the integration when
// retrying calls to Acme. Plain functions; time and randomness come in as arguments.

/** "Full jitter": uniform in [0, min(cap, base * 2^attempt)]. */
export function fullJitterDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

/** `Retry-After` in delay-seconds or HTTP-date form, as milliseconds from `now`; null if absent or invalid. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | null {
  if (value === null || value === undefined) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/[a-z]/i.test(trimmed)) return null;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}
