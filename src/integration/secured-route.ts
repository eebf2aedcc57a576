import { createRoute, type RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { routeGuard } from "../lib/route-guard.ts";
import { requireAdmin, requireApiKey } from "./auth/api-key.ts";
import type { IntegrationEnv } from "./context.ts";

/**
 * The API's security schemes (registered with the document in app.ts) and the guard enforcing
 * each, one per scheme, shared by its routes.
 */
const SCHEME_GUARDS = {
  ApiKey: routeGuard(requireApiKey()),
  AdminToken: routeGuard(requireAdmin()),
} satisfies Record<string, MiddlewareHandler<IntegrationEnv>>;

/** A route's security requirement: exactly one of the API's schemes. */
export type IntegrationSecurity = [{ ApiKey: [] }] | [{ AdminToken: [] }];

/** Security requirements every route that needs credentials states. */
export const API_KEY: IntegrationSecurity = [{ ApiKey: [] }];
export const ADMIN_TOKEN: IntegrationSecurity = [{ AdminToken: [] }];

/** A route's own `middleware`, as the list it is spread into. */
type OwnMiddleware<T> = T extends readonly unknown[] ? T : T extends MiddlewareHandler ? [T] : [];

/**
 * `createRoute` for a route that needs credentials: the `security` it declares in the document is
 * what it enforces. The scheme's guard goes first in the route's middleware (before the route's
 * own and its validators; after the app's size and query checks); it throws ApiError
 * `unauthorized` (401, `WWW-Authenticate: Bearer`) and, for an API key, sets `c.var.connection`.
 * Every route declaring security is made with this, so none is open because a path glob was missed.
 */
export function securedRoute<const R extends RouteConfig & { security: IntegrationSecurity }>(route: R) {
  const { middleware: own = [], ...config } = route;
  const scheme = "ApiKey" in route.security[0] ? "ApiKey" : "AdminToken";
  const middleware = [SCHEME_GUARDS[scheme], ...[own].flat()] as [
    MiddlewareHandler<IntegrationEnv>,
    ...OwnMiddleware<R["middleware"]>,
  ];
  return createRoute({ ...config, middleware });
}
