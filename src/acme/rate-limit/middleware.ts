import type { MiddlewareHandler } from "hono";
import type { AcmeEnv } from "../context.ts";
import { rateClassFor, rateLimitedError, takeRateLimit } from "./limiter-client.ts";

/**
 * Per-account, per-class limits on the API; runs after authentication so the account is known.
 * Every app acting for an account shares the account's limits (and a plain client is its own
 * account, so its limits are its own).
 */
export function rateLimit(): MiddlewareHandler<AcmeEnv> {
  return async function rateLimitMiddleware(c, next) {
    const rateClass = rateClassFor(c.req.method);
    const { decision, headers } = await takeRateLimit(c.env, c.var.config, c.var.client.accountId, rateClass);
    c.set("rateLimit", { rateClass, decision });
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
    if (!decision.allowed) throw rateLimitedError(rateClass, decision, headers);
    await next();
  };
}
