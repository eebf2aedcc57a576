import { OpenAPIHono } from "@hono/zod-openapi";
import { fieldErrors } from "../lib/validation.ts";
import type { AcmeConfig } from "./config.ts";
import { AcmeError } from "./errors.ts";

export interface AuthenticatedClient {
  clientId: string;
  /** The account whose data the client may see: for Acme, every client is its own account. */
  accountId: string;
  scopes: Set<string>;
}

/** The rate window a request was counted in: which class, what it left, and when the window opened (epoch ms). */
export interface RateLimitNote {
  rateClass: string;
  remaining: number;
  windowStartMs: number;
}

export interface AcmeVariables {
  config: AcmeConfig;
  client: AuthenticatedClient;
  /** Set by the rate limiter once the request was counted (or refused). */
  rateLimit?: RateLimitNote;
}

export type AcmeEnv = { Bindings: Env; Variables: AcmeVariables };

/** Every Acme router validates with zod and reports failures in Acme's own error format. */
export function createAcmeRouter() {
  return new OpenAPIHono<AcmeEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new AcmeError("validation_failed", "The request is not valid.", {
          details: fieldErrors(result.error),
        });
      }
    },
  });
}
