import { OpenAPIHono } from "@hono/zod-openapi";
import { fieldErrors } from "../lib/validation.ts";
import type { AcmeConfig, RateClass } from "./config.ts";
import { AcmeError } from "./errors.ts";
import type { RateDecision } from "./rate-limit/fixed-window.ts";

export interface AuthenticatedClient {
  /** The client the token was issued to: a plain client, or an app. */
  clientId: string;
  /**
   * The account whose data the token may see: a plain client is its own account; an app acts for
   * the account of the user who approved it. Rate limits count per account.
   */
  accountId: string;
  scopes: Set<string>;
  /** The app's grant the token belongs to; null for client credentials. */
  grantId: string | null;
}

export interface AcmeVariables {
  config: AcmeConfig;
  client: AuthenticatedClient;
  /** The rate limiter's decision on the request (counted or refused), and its class. */
  rateLimit?: { rateClass: RateClass; decision: RateDecision };
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
