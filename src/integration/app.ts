import { createRoute, z } from "@hono/zod-openapi";
import { type ApiReferenceConfiguration, Scalar } from "@scalar/hono-api-reference";
import { HTTPException } from "hono/http-exception";
import { allowedMethods } from "../lib/allowed-methods.ts";
import { errorFields, log } from "../lib/logger.ts";
import { noSniff } from "../lib/no-sniff.ts";
import { jsonResponse, OPENAPI_DOCUMENT_ROUTE } from "../lib/openapi.ts";
import { guardOfUnmatched } from "../lib/route-guard.ts";
import { accessLog } from "./access-log.ts";
import { connectionAdminRouter } from "./admin/connection-routes.ts";
import { encryptionAdminRouter } from "./admin/encryption-routes.ts";
import { connectPageRouter } from "./connect/page-routes.tsx";
import { connectSessionRouter } from "./connect/session-routes.ts";
import { createConsoleApp, type SelfFetch } from "./console/app.ts";
import { CONTACTS_TAG, contactRouter, SEED_CONTACTS_TAG, seedContactRouter } from "./contacts/routes.ts";
import { createRouter } from "./context.ts";
import { destinationsRouter, registerDestinationWebhook } from "./destinations/routes.ts";
import { docsSecurityHeaders } from "./docs-security-headers.ts";
import { ApiError, PROBLEM_CONTENT_TYPE, problemBody } from "./errors.ts";
import { eventsRouter } from "./feed/routes.ts";
import { fieldMappingsRouter } from "./field-mappings/routes.ts";
import { jobsRouter } from "./jobs/routes.ts";
import { type InProcessAcme, integrationContext } from "./request-context.ts";
import { apiBodyLimit, wellFormedQuery } from "./request-limits.ts";
import { statusRouter } from "./status/routes.ts";
import { deadLetterRouter } from "./webhooks/dead-letter-routes.ts";
import { webhookReceiverRouter } from "./webhooks/receiver-route.ts";

/**
 * The /docs viewer's settings: an offline, self-hosted reference. The viewer's script is a static
 * asset copied from node_modules (scripts/vendor-assets.ts) and its default web fonts are off, so
 * the page loads nothing from another origin; and every button that only works with Scalar's cloud
 * is off: the developer tools bar (Share, Deploy, Generate SDK), "Ask AI", "Generate SDKs & MCP"
 * and the sidebar's client button (shown in place of the MCP one when MCP is off). "Test Request"
 * and the document download stay: both work against this Worker alone. `mcp` is read by the
 * bundled viewer but not yet in @scalar/types, hence the widened type.
 */
const DOCS_VIEWER: ApiReferenceConfiguration & { mcp: { disabled: boolean } } = {
  url: "/api/openapi.json",
  pageTitle: "acme-bridge API",
  cdn: "/assets/vendor/scalar-api-reference.js",
  withDefaultFonts: false,
  showDeveloperTools: "never",
  hideClientButton: true,
  agent: { disabled: true },
  mcp: { disabled: true },
  telemetry: false,
};

/**
 * The integration API: /api/v1/... (and the same contact routes under /api/...), docs at /docs,
 * the operator console at /console (its writes go through `selfFetch`, this Worker in-process).
 */
export function createIntegrationApp(options: { inProcessAcme: InProcessAcme; selfFetch: SelfFetch }) {
  const app = createRouter();

  app.use("*", noSniff());
  app.use("*", integrationContext(options));
  app.use("*", accessLog());
  // Size and query text before anything else (auth, media type, parsing). Credentials are
  // checked by each route that declares security (securedRoute).
  app.use("*", apiBodyLimit(), wellFormedQuery());
  app.use("/docs", docsSecurityHeaders());

  app.route("/api/v1", contactRouter);
  app.route("/api", seedContactRouter);
  app.route("/api/v1", eventsRouter);
  app.route("/api/v1", destinationsRouter);
  app.route("/api/v1", fieldMappingsRouter);
  app.route("/api/v1", statusRouter);
  app.route("/api", connectionAdminRouter);
  app.route("/api", encryptionAdminRouter);
  app.route("/api", connectSessionRouter);
  app.route("/api", jobsRouter);
  app.route("/api", deadLetterRouter);
  app.route("/", webhookReceiverRouter);
  app.route("/console", createConsoleApp({ selfFetch: options.selfFetch }));
  app.route("/connect", connectPageRouter);

  app.openAPIRegistry.registerComponent("securitySchemes", "ApiKey", {
    type: "http",
    scheme: "bearer",
    description: "An API key issued for one connection",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "AdminToken", { type: "http", scheme: "bearer" });
  registerDestinationWebhook(app.openAPIRegistry);
  app.openAPIRegistry.registerPath({ ...OPENAPI_DOCUMENT_ROUTE, path: "/api/openapi.json" });
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/docs",
    tags: ["Documentation"],
    summary: "Interactive API reference of this document",
    responses: { 200: { description: "An HTML page", content: { "text/html": { schema: z.string() } } } },
  });
  app.doc31("/api/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "acme-bridge integration API",
      version: "1.0.0",
      description:
        "A clean contacts API over the Acme CRM, per connection. Errors are RFC 9457 problem+json with a " +
        "stable `code` and the `requestId`; every response carries `X-Request-Id`.",
    },
    // The two contact groups first and described; the other tags follow in the order they appear.
    tags: [CONTACTS_TAG, SEED_CONTACTS_TAG],
  });
  app.get("/docs", Scalar(DOCS_VIEWER));
  app.openapi(
    createRoute({
      method: "get",
      path: "/health",
      tags: ["Status"],
      summary: "Liveness: the Worker answers",
      responses: { 200: jsonResponse("Alive", z.object({ status: z.literal("ok") })) },
    }),
    (c) => c.json({ status: "ok" as const }, 200),
  );

  // Registered last, so it only answers what no route above matched: 405 with Allow where the
  // path exists, else 404; either after the credentials the routes around it ask for (401 first).
  const allowFor = allowedMethods(app);
  app.all("*", guardOfUnmatched(app), (c) => {
    const allow = allowFor(c);
    if (allow.length === 0) throw new ApiError("not_found", "No such route.");
    throw new ApiError(
      "method_not_allowed",
      `${c.req.method} is not allowed here; use ${allow.join(", ")}.`,
      {
        headers: { Allow: allow.join(", ") },
      },
    );
  });

  app.onError((error, c) => {
    let apiError: ApiError;
    if (error instanceof ApiError) {
      apiError = error;
    } else if (error instanceof HTTPException && error.status < 500) {
      apiError = new ApiError("validation_failed", error.message);
    } else {
      log("error", "api request failed", {
        requestId: c.var.requestId,
        path: c.req.path,
        ...errorFields(error),
      });
      apiError = new ApiError(
        "internal_error",
        "Something went wrong; quote the requestId when reporting it.",
      );
    }
    for (const [name, value] of Object.entries(apiError.options.headers ?? {})) c.header(name, value);
    c.header("Content-Type", PROBLEM_CONTENT_TYPE);
    return c.body(JSON.stringify(problemBody(apiError, c.var.requestId)), apiError.status);
  });

  return app;
}
