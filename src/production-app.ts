import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { NO_IN_PROCESS_ACME } from "./integration/acme-client/transport.ts";
import { createIntegrationApp } from "./integration/app.ts";

/**
 * The HTTP surface of the integration deployed alone (env.production): no /acme, and no Acme in
 * this Worker, so every connection reaches Acme over HTTP (ACME_BASE_URL, required by the config).
 */
export function createProductionApp() {
  const app = new Hono<{ Bindings: Env }>();
  const integration = createIntegrationApp({
    inProcessAcme: (request) => NO_IN_PROCESS_ACME(request),
    selfFetch: (request, env, ctx) => Promise.resolve(app.fetch(request, env, ctx)),
  });
  app.use("*", requestId());
  app.route("/", integration);
  return app;
}
