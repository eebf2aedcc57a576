import type { AcmeConfig, RateClass } from "../config.ts";
import { AcmeError } from "../errors.ts";
import { type RateDecision, rateLimitHeaders } from "./fixed-window.ts";

export function limiterFor(env: Env, clientId: string) {
  return env.ACME_LIMITER.get(env.ACME_LIMITER.idFromName(clientId));
}

export function rateClassFor(method: string): RateClass {
  if (method === "GET" || method === "HEAD") return "read";
  if (method === "DELETE") return "delete";
  return "write";
}

/** Takes one unit of `rateClass` for the client; the headers describe the outcome either way. */
export async function takeRateLimit(
  env: Env,
  config: AcmeConfig,
  clientId: string,
  rateClass: RateClass,
): Promise<{ decision: RateDecision; headers: Record<string, string> }> {
  const decision = await limiterFor(env, clientId).consume(rateClass, config.rateLimits[rateClass]);
  return { decision, headers: rateLimitHeaders(rateClass, decision) };
}

export function rateLimitedError(
  rateClass: RateClass,
  decision: RateDecision,
  headers: Record<string, string>,
) {
  return new AcmeError(
    "rate_limited",
    `Rate limit for ${rateClass} requests exceeded: ${decision.limit} per ${decision.windowSeconds} s.`,
    { headers: { ...headers, "Retry-After": String(decision.resetSeconds) } },
  );
}
