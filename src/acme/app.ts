import { HTTPException } from "hono/http-exception";
import { allowedMethods } from "../lib/allowed-methods.ts";
import { errorFields, log } from "../lib/logger.ts";
import { noSniff } from "../lib/no-sniff.ts";
import { OPENAPI_DOCUMENT_ROUTE } from "../lib/openapi.ts";
import { guardOfUnmatched } from "../lib/route-guard.ts";
import { appAdminRouter } from "./admin/apps-routes.ts";
import { clientAdminRouter } from "./admin/clients-routes.ts";
import { secretAdminRouter } from "./admin/secrets-routes.ts";
import { userAdminRouter } from "./admin/users-routes.ts";
import { ACME_SCOPES } from "./auth/bearer.ts";
import { jwksRouter } from "./auth/jwks-route.ts";
import { tokenBodyLimit, tokenRouter } from "./auth/token-route.ts";
import { loadAcmeConfig } from "./config.ts";
import { contactRouter } from "./contacts/routes.ts";
import { createAcmeRouter } from "./context.ts";
import { AcmeError, acmeErrorBody, OAuthError } from "./errors.ts";
import { injectFaults } from "./faults/middleware.ts";
import { faultRouter } from "./faults/routes.ts";
import { authorizeRouter } from "./oauth/authorize-routes.tsx";
import { revokeRouter } from "./oauth/revoke-route.ts";
import { errorResponses, PUBLIC_ERROR_STATUSES } from "./openapi-schemas.ts";
import { propertyRouter } from "./properties/routes.ts";
import { acmeBodyLimit, wellFormedQuery } from "./request-limits.ts";
import { acmeRequestLog } from "./request-log.ts";
import { CONTACT_WEBHOOKS } from "./webhooks/payload-schema.ts";
import { webhookRouter } from "./webhooks/routes.ts";

/** The mock Acme CRM. Mounted at /acme by src/app.ts; its routes are written without the prefix. */
export function createAcmeApp() {
  const app = createAcmeRouter();

  app.use("*", noSniff());
  app.use("*", acmeRequestLog());
  app.use("*", async function acmeConfig(c, next) {
    c.set("config", loadAcmeConfig(c.env));
    await next();
  });
  // Size before anything else (media type, parsing, auth, faults): the token endpoint's own,
  // smaller limit first, so its 413 keeps the RFC 6749 shape. Only on the method it serves: any
  // other method there is answered (405, or 413 first) in Acme's own format.
  app.on("POST", "/oauth/token", tokenBodyLimit);
  app.on("POST", "/oauth/revoke", tokenBodyLimit);
  app.use("*", acmeBodyLimit());
  app.use("*", wellFormedQuery());
  // Faults before credentials: each /v1 route's guard (securedRoute) then checks the access token
  // and takes from the client's rate limit.
  app.use("/oauth/token", injectFaults());
  app.use("/v1/*", injectFaults());

  app.route("/", tokenRouter);
  app.route("/", jwksRouter);
  app.route("/", authorizeRouter);
  app.route("/", revokeRouter);
  app.route("/", contactRouter);
  app.route("/", propertyRouter);
  app.route("/", webhookRouter);
  app.route("/", faultRouter);
  app.route("/", clientAdminRouter);
  app.route("/", appAdminRouter);
  app.route("/", userAdminRouter);
  app.route("/", secretAdminRouter);

  app.openAPIRegistry.registerComponent("securitySchemes", "AcmeOAuth", {
    type: "oauth2",
    flows: {
      clientCredentials: {
        tokenUrl: "/acme/oauth/token",
        scopes: Object.fromEntries(ACME_SCOPES.map((s) => [s, s])),
      },
      authorizationCode: {
        authorizationUrl: "/acme/oauth/authorize",
        tokenUrl: "/acme/oauth/token",
        refreshUrl: "/acme/oauth/token",
        scopes: Object.fromEntries(ACME_SCOPES.map((s) => [s, s])),
      },
    },
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "AdminToken", { type: "http", scheme: "bearer" });
  for (const webhook of CONTACT_WEBHOOKS) app.openAPIRegistry.registerWebhook(webhook);
  app.openAPIRegistry.registerPath({
    ...OPENAPI_DOCUMENT_ROUTE,
    path: "/openapi.json",
    responses: { ...OPENAPI_DOCUMENT_ROUTE.responses, ...errorResponses(...PUBLIC_ERROR_STATUSES) },
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Acme CRM (mock)",
      version: "1.0.0",
      description:
        "A realistic third-party CRM: OAuth2 client credentials, acme_-prefixed contacts, exact rate limits " +
        "with RateLimit headers, and fault injection.",
    },
    servers: [{ url: "/acme" }],
  });

  // Registered last, so it only answers what no route above matched (mounted with app.route,
  // the sub-app's notFound would not be consulted): 405 with Allow where the path exists, else
  // 404; either after the credentials and rate limit the routes around it ask for (401 first).
  const allowFor = allowedMethods(app);
  app.all("*", guardOfUnmatched(app), (c) => {
    const allow = allowFor(c);
    if (allow.length === 0) throw new AcmeError("not_found", "No such route.");
    throw new AcmeError(
      "method_not_allowed",
      `${c.req.method} is not allowed here; use ${allow.join(", ")}.`,
      {
        headers: { Allow: allow.join(", ") },
      },
    );
  });

  app.onError((error, c) => {
    if (error instanceof OAuthError) {
      for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
      c.header("Cache-Control", "no-store");
      return c.json({ error: error.code, error_description: error.description }, error.status);
    }
    let acmeError: AcmeError;
    if (error instanceof AcmeError) {
      acmeError = error;
    } else if (error instanceof HTTPException && error.status < 500) {
      acmeError = new AcmeError("validation_failed", error.message);
    } else {
      log("error", "acme request failed", { path: c.req.path, method: c.req.method, ...errorFields(error) });
      acmeError = new AcmeError("internal_error", "Something went wrong inside Acme.");
    }
    for (const [name, value] of Object.entries(acmeError.options.headers ?? {})) c.header(name, value);
    return c.json(acmeErrorBody(acmeError), acmeError.status);
  });

  return app;
}
