import { OpenAPIHono } from "@hono/zod-openapi";
import { fieldErrors } from "../lib/validation.ts";
import type { AcmeTransport } from "./acme-client/transport.ts";
import type { IntegrationConfig } from "./config.ts";
import type { ConnectionRow } from "./db/schema.ts";
import { ApiError } from "./errors.ts";

/** What the request log line reports beyond method, route and status. */
export interface RequestStats {
  acmeAttempts: number;
  acmeRetries: number;
  /** Time spent waiting for a rate slot or a retry backoff. */
  acmeWaitMs: number;
  cache?: "HIT" | "MISS" | "STALE";
}

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
