import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { createAcmeApp } from "./acme/app.ts";
import { createIntegrationApp } from "./integration/app.ts";

/**
 * The Worker's HTTP surface: the mock Acme CRM under /acme and the integration everywhere else.
 * The two halves share nothing but this file and src/lib; the integration reaches the mock only
 * through HTTP semantics, here dispatched in-process to this same app.
 */
export function createApp() {
  const app = new Hono<{ Bindings: Env }>();
  const acme = createAcmeApp();
  const integration = createIntegrationApp({
    inProcessAcme: (request, env, ctx) => Promise.resolve(app.fetch(request, env, ctx)),
    selfFetch: (request, env, ctx) => Promise.resolve(app.fetch(request, env, ctx)),
  });

  app.use("*", requestId());
  app.route("/acme", acme);
  app.route("/", integration);

  return app;
}
