import type { MiddlewareHandler } from "hono";
import { log } from "../lib/logger.ts";
import type { IntegrationEnv } from "./context.ts";
import { tallyRequest } from "./session/tally-request.ts";

/**
 * One JSON line per request once it is answered: method, route, status and duration (ms), the
 * Acme attempts, retries and wait the request took, its cache result and its connection. It
 * starts the request's `stats`, which the Acme client and the routes fill in. A request made as a
 * connection is also counted in that connection's per-minute figures (off the hot path).
 */
export function accessLog(): MiddlewareHandler<IntegrationEnv> {
  return async function accessLogMiddleware(c, next) {
    const started = performance.now();
    c.set("stats", { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 });
    await next();
    const stats = c.var.stats;
    const durationMs = Math.round((performance.now() - started) * 10) / 10;
    const connection = c.get("connection");
    if (connection) {
      tallyRequest(c.env, connection.id, { at: Date.now(), durationMs, cache: stats.cache }, c.var.defer);
    }
    log(c.res.status >= 500 ? "error" : "info", "api request", {
      system: "integration",
      requestId: c.var.requestId,
      method: c.req.method,
      route: c.req.routePath,
      path: c.req.path,
      status: c.res.status,
      durationMs,
      acmeAttempts: stats.acmeAttempts,
      acmeRetries: stats.acmeRetries,
      acmeWaitMs: stats.acmeWaitMs,
      cache: stats.cache ?? null,
      connection: connection?.id ?? null,
    });
  };
}
