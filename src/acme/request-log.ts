import type { MiddlewareHandler } from "hono";
import { log } from "../lib/logger.ts";
import type { AcmeEnv } from "./context.ts";

/**
 * One "acme request" line per request once it is answered: method, path, status, duration (ms),
 * and for a rate-limited call the window it counted in (`rateClass`, `rateRemaining`,
 * `rateWindow`: when the window opened, ISO 8601), so calls can be grouped into Acme's windows.
 */
export function acmeRequestLog(): MiddlewareHandler<AcmeEnv> {
  return async function acmeRequestLogMiddleware(c, next) {
    const started = performance.now();
    await next();
    const rate = c.var.rateLimit;
    log("info", "acme request", {
      system: "acme",
      requestId: c.var.requestId,
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      ...(rate
        ? {
            rateClass: rate.rateClass,
            rateRemaining: rate.decision.remaining,
            rateWindow: new Date(rate.decision.windowStartMs).toISOString(),
          }
        : {}),
    });
  };
}
