import type { MiddlewareHandler } from "hono";
import { executionContextOf } from "../lib/execution-context.ts";
import { errorFields, log } from "../lib/logger.ts";
import { loadIntegrationConfig } from "./config.ts";
import type { IntegrationEnv } from "./context.ts";

/** Dispatches a request to the Acme mock in this Worker, with the current request's env. */
export type InProcessAcme = (
  request: Request,
  env: Env,
  ctx: ExecutionContext | undefined,
) => Promise<Response>;

/**
 * Sets what every integration route reads from the context: the validated config, the
 * in-process Acme transport bound to this request, and `defer` for work after the response.
 */
export function integrationContext(options: {
  inProcessAcme: InProcessAcme;
}): MiddlewareHandler<IntegrationEnv> {
  return async function integrationContextMiddleware(c, next) {
    c.set("config", loadIntegrationConfig(c.env));
    const ctx = executionContextOf(c);
    c.set("acmeTransport", (request) => options.inProcessAcme(request, c.env, ctx));
    c.set("defer", (work) => {
      const logged = work.catch((error) => log("warn", "deferred work failed", { ...errorFields(error) }));
      if (ctx) ctx.waitUntil(logged);
    });
    await next();
  };
}
