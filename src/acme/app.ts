import { HTTPException } from "hono/http-exception";
import { errorFields, log } from "../lib/logger.ts";
import { rejectUnlistedMethods } from "../lib/method-not-allowed.ts";
import { OPENAPI_DOCUMENT_ROUTE } from "../lib/openapi.ts";
import { clientAdminRouter } from "./admin/clients-routes.ts";
import { ACME_SCOPES, requireAccessToken } from "./auth/bearer.ts";
import { jwksRouter } from "./auth/jwks-route.ts";
import { tokenRouter } from "./auth/token-route.ts";
import { loadAcmeConfig } from "./config.ts";
import { contactRouter } from "./contacts/routes.ts";
import { createAcmeRouter } from "./context.ts";
import { AcmeError, acmeErrorBody, OAuthError } from "./errors.ts";
import { injectFaults } from "./faults/middleware.ts";
import { faultRouter } from "./faults/routes.ts";
import { rateLimit } from "./rate-limit/middleware.ts";
import { webhookRouter } from "./webhooks/routes.ts";

/** Where src/app.ts mounts the mock (its document's server URL). */
export const ACME_MOUNT_PATH = "/acme";

/** The mock Acme CRM. Mounted at /acme by src/app.ts; its routes are written without the prefix. */
export function createAcmeApp() {
  const app = createAcmeRouter();

  app.use(
    "*",
    rejectUnlistedMethods({
      mountPath: ACME_MOUNT_PATH,
      routes: () => app.routes,
      reject: (allow) => {
        throw new AcmeError("method_not_allowed", `This path allows ${allow}.`, {
          headers: { Allow: allow },
        });
      },
    }),
  );

  app.use("*", async function acmeConfig(c, next) {
    c.set("config", loadAcmeConfig(c.env));
    await next();
  });
  app.use("/oauth/token", injectFaults());
  app.use("/v1/*", injectFaults(), requireAccessToken(), rateLimit());

  app.route("/", tokenRouter);
  app.route("/", jwksRouter);
  app.route("/", contactRouter);
  app.route("/", webhookRouter);
  app.route("/", faultRouter);
  app.route("/", clientAdminRouter);

  app.openAPIRegistry.registerComponent("securitySchemes", "AcmeOAuth", {
    type: "oauth2",
    flows: {
      clientCredentials: {
        tokenUrl: "/acme/oauth/token",
        scopes: Object.fromEntries(ACME_SCOPES.map((s) => [s, s])),
      },
    },
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "AdminToken", { type: "http", scheme: "bearer" });
  app.openAPIRegistry.registerPath({ ...OPENAPI_DOCUMENT_ROUTE, path: "/openapi.json" });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Acme CRM (mock)",
      version: "1.0.0",
      description:
        "A realistic third-party CRM: OAuth2 client credentials, acme_-prefixed contacts, exact rate limits " +
        "with RateLimit headers, and fault injection.",
    },
    servers: [{ url: ACME_MOUNT_PATH }],
  });

  // Registered last, so it only answers what no route above matched (mounted with app.route,
  // the sub-app's notFound would not be consulted).
  app.all("*", () => {
    throw new AcmeError("not_found", "No such route.");
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
