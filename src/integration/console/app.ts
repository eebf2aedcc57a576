import { csrf } from "hono/csrf";
import { adminApiFor, type SelfFetch } from "./admin-api.ts";
import { chartRouter } from "./chart-routes.tsx";
import { connectionRouter } from "./connection-routes.tsx";
import { createConsoleRouter } from "./context.ts";
import { customFieldRouter } from "./custom-field-routes.tsx";
import { deadLetterRouter } from "./dead-letter-routes.tsx";
import { destinationRouter } from "./destination-routes.tsx";
import { ConsoleError, renderConsoleError } from "./errors.tsx";
import { feedRouter } from "./feed-routes.tsx";
import { jobRouter } from "./job-routes.tsx";
import { consoleSecurityHeaders, requireCsrfToken, requireOperator } from "./middleware.ts";
import { signInRouter, signOutRouter } from "./sign-in-routes.tsx";
import { webhookDeliveryRouter } from "./webhook-delivery-routes.tsx";

export type { SelfFetch };

/**
 * The operator console, mounted at /console: server-rendered pages (Hono JSX) whose styles and
 * scripts are static assets. Everything but sign-in needs a signed-in operator; every
 * state-changing form passes two CSRF checks (the Origin / Sec-Fetch-Site check of hono/csrf, then
 * the sign-in's token).
 */
export function createConsoleApp(options: { selfFetch: SelfFetch }) {
  const app = createConsoleRouter();
  app.use(consoleSecurityHeaders());
  app.use(csrf());
  app.use(async function consoleAdminApi(c, next) {
    c.set("adminApi", adminApiFor(c, options.selfFetch));
    await next();
  });
  app.route("/", signInRouter);

  // Default deny: everything registered from here on, any path, needs a signed-in operator
  // (sign-in is above).
  app.use(requireOperator());
  app.use(requireCsrfToken());
  app.route("/", signOutRouter);
  app.get("/", (c) => c.redirect("/console/connections", 303));
  app.route("/connections", connectionRouter);
  app.route("/connections", chartRouter);
  app.route("/connections", jobRouter);
  app.route("/connections", feedRouter);
  app.route("/connections", destinationRouter);
  app.route("/connections", customFieldRouter);
  app.route("/connections", webhookDeliveryRouter);
  app.route("/dead-letters", deadLetterRouter);
  app.all("*", () => {
    throw new ConsoleError(404, "There is no such console page.");
  });
  app.onError(renderConsoleError);
  return app;
}
