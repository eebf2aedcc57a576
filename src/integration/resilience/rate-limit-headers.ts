/** The longest rate window taken from Acme's headers, s. */
const MAX_WINDOW_SECONDS = 86_400;
/** The largest quota taken from Acme's headers. */
const MAX_LIMIT = 1_000_000;

/** Acme's fixed-window figures from one answer's `RateLimit-Policy` and `RateLimit` headers. */
export interface RateObservation {
  limit: number;
  windowSeconds: number;
  remaining: number;
  resetSeconds: number;
}

function params(value: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of value.split(";").slice(1)) {
    const [key, raw] = part.split("=");
    if (key && raw !== undefined) out.set(key.trim(), raw.trim());
  }
  return out;
}

function integer(value: string | undefined): number | null {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : null;
}

/**
 * Reads `RateLimit-Policy: "read";q=100;w=10` and `RateLimit: "read";r=42;t=7`
 * (draft-ietf-httpapi-ratelimit-headers); null unless both are present and well formed.
 */
export function parseRateLimitHeaders(headers: Headers): RateObservation | null {
  const policy = headers.get("ratelimit-policy");
  const current = headers.get("ratelimit");
  if (!policy || !current) return null;
  const p = params(policy.split(",")[0] ?? "");
  const c = params(current.split(",")[0] ?? "");
  const limit = integer(p.get("q"));
  const windowSeconds = integer(p.get("w"));
  const remaining = integer(c.get("r"));
  const resetSeconds = integer(c.get("t"));
  if (limit === null || windowSeconds === null || remaining === null || resetSeconds === null) return null;
  // Figures the budget could not use sensibly (a reset beyond the window, a window over a day)
  // are ignored rather than trusted: the budget then learns from the next answer or a 429.
  if (limit < 1 || windowSeconds < 1 || remaining > limit) return null;
  if (windowSeconds > MAX_WINDOW_SECONDS || resetSeconds > windowSeconds || limit > MAX_LIMIT) return null;
  return { limit, windowSeconds, remaining, resetSeconds };
}
