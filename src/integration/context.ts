import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { fieldErrors } from "../lib/validation.ts";
import type { AcmeClient } from "./acme-client/acme-client.ts";
import { createAcmeClient } from "./acme-client/create-acme-client.ts";
import type { AcmeTransport } from "./acme-client/transport.ts";
import type { IntegrationConfig } from "./config.ts";
import type { ConnectionRow } from "./db/schema.ts";
import { ApiError } from "./errors.ts";
import type { RequestStats } from "./request-stats.ts";

export interface IntegrationVariables {
  config: IntegrationConfig;
  connection: ConnectionRow;
  acmeTransport: AcmeTransport;
  stats: RequestStats;
  requestId: string;
  /** Work to finish after the response is sent (ctx.waitUntil where there is a context). */
  defer: (work: Promise<unknown>) => void;
}

export type IntegrationEnv = { Bindings: Env; Variables: IntegrationVariables };

/** Every integration router validates with zod and reports problems with the API's field names. */
export function createRouter() {
  return new OpenAPIHono<IntegrationEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ApiError("validation_failed", "The request is not valid.", {
          errors: fieldErrors(result.error),
        });
      }
    },
  });
}

/** The origin Acme should call back: PUBLIC_BASE_URL if set, else the one this request came to. */
export function publicOrigin(c: { var: { config: IntegrationConfig }; req: { url: string } }): string {
  return c.var.config.publicBaseUrl ?? new URL(c.req.url).origin;
}

/** The Acme client for a connection (by default the request's own) within the current interactive request. */
export function acmeClientFor(
  c: Context<IntegrationEnv>,
  connection: ConnectionRow = c.var.connection,
): AcmeClient {
  return createAcmeClient(c.env, c.var.config, connection, {
    inProcess: c.var.acmeTransport,
    stats: c.var.stats,
    priority: "interactive",
    requestId: c.var.requestId,
    defer: c.var.defer,
  });
}
