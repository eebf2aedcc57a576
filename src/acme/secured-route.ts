import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { routeGuard } from "../lib/route-guard.ts";
import {
  ACME_SCOPES,
  type AcmeScope,
  requireAccessToken,
  requireAdminToken,
  requireScope,
} from "./auth/bearer.ts";
import type { AcmeEnv } from "./context.ts";
import { rateLimit } from "./rate-limit/middleware.ts";

/** A route's security requirement: exactly one of Acme's schemes (registered in app.ts). */
export type AcmeSecurity = [{ AcmeOAuth: AcmeScope[] }] | [{ AdminToken: [] }];

/** The deployment's admin token (faults, clients). */
export const ADMIN_TOKEN: AcmeSecurity = [{ AdminToken: [] }];

/**
 * An OAuth access token holding every scope given; with none, any valid token (a route checking
 * its own scope in its middleware documents it there).
 */
export function accessToken(...scopes: AcmeScope[]): AcmeSecurity {
  return [{ AcmeOAuth: scopes }];
}

// Each check made once and shared by the routes' guards (see routeGuard).
const ADMIN_TOKEN_CHECK = requireAdminToken();
const ACCESS_TOKEN_CHECK = requireAccessToken();
const RATE_LIMIT = rateLimit();
const SCOPE_CHECKS = Object.fromEntries(ACME_SCOPES.map((scope) => [scope, requireScope(scope)])) as Record<
  AcmeScope,
  MiddlewareHandler<AcmeEnv>
>;

/**
 * What enforces a requirement. An access token: verified, then the rate limit (which counts per
 * client, so needs the token's), then the scopes. Fault injection runs before all of it, from
 * app.ts, as it does for the unauthenticated token endpoint.
 */
function guardFor(security: AcmeSecurity): MiddlewareHandler<AcmeEnv> {
  const [requirement] = security;
  if ("AdminToken" in requirement) return routeGuard(ADMIN_TOKEN_CHECK);
  const scopes = requirement.AcmeOAuth.map((scope) => SCOPE_CHECKS[scope]);
  return routeGuard(ACCESS_TOKEN_CHECK, RATE_LIMIT, ...scopes);
}

/** A route's own `middleware`, as the list it is spread into. */
type OwnMiddleware<T> = T extends readonly unknown[] ? T : T extends MiddlewareHandler ? [T] : [];

/**
 * `createRoute` for a route that needs credentials: the `security` it declares in the document is
 * what it enforces. Its guard goes first in the route's middleware (before the route's own and its
 * validators; after the app's size, query and fault checks). It throws AcmeError `unauthorized` or
 * `invalid_token` (401, `WWW-Authenticate: Bearer`), `rate_limited` (429) or `insufficient_scope`
 * (403); an access token's client is then `c.var.client`. Every route declaring security is made
 * with this, so none is open because a path glob was missed.
 */
export function securedRoute<const R extends RouteConfig & { security: AcmeSecurity }>(route: R) {
  const { middleware: own = [], ...config } = route;
  const middleware = [guardFor(route.security), ...[own].flat()] as [
    MiddlewareHandler<AcmeEnv>,
    ...OwnMiddleware<R["middleware"]>,
  ];
  return createRoute({ ...config, middleware });
}
