import type { Env, MiddlewareHandler } from "hono";
import { every } from "hono/combine";
import { METHOD_NAME_ALL } from "hono/router";
import { COMPOSED_HANDLER } from "hono/utils/constants";
import { pathWithinApp } from "./allowed-methods.ts";

/** The checks of every guard `routeGuard` made, by guard (recognised among handlers by identity). */
const GUARD_CHECKS = new WeakMap<object, readonly MiddlewareHandler[]>();

/**
 * A route's guard: the checks enforcing the security its OpenAPI definition declares
 * (authentication, and what needs the caller it finds, such as a rate limit), run in the order
 * given as one middleware. It goes first in the route's `middleware`, so it runs before the
 * route's own middleware and validators. A failed check throws, as the given middleware do.
 * Make each check once and share it between routes: a request no route answers is checked with
 * the checks its neighbouring routes share, recognised by identity (see `guardOfUnmatched`).
 */
export function routeGuard<E extends Env>(...checks: MiddlewareHandler<E>[]): MiddlewareHandler<E> {
  const guard = every(...checks);
  GUARD_CHECKS.set(guard, checks);
  return guard;
}

function checksOf(handler: unknown): readonly MiddlewareHandler[] | undefined {
  if (typeof handler !== "function") return undefined;
  // A sub-app with its own onError is mounted with each handler wrapped; the guard is inside.
  const inner: unknown = (handler as { [COMPOSED_HANDLER]?: unknown })[COMPOSED_HANDLER];
  return GUARD_CHECKS.get(handler) ?? (typeof inner === "function" ? GUARD_CHECKS.get(inner) : undefined);
}

/** One method and path of an app, as path segments, and its guard's checks (none if unguarded). */
interface KnownRoute {
  segments: string[];
  checks: readonly MiddlewareHandler[];
}

function segmentsOf(path: string): string[] {
  return path.split("/").filter(Boolean);
}

function knownRoutes(routes: { path: string; method: string; handler: unknown }[]): KnownRoute[] {
  const byRoute = new Map<string, KnownRoute>();
  for (const route of routes) {
    // Middleware (`use`) and catch-alls (`all`) are registered for every method: not routes.
    if (route.method === METHOD_NAME_ALL) continue;
    const key = `${route.method} ${route.path}`;
    const known = byRoute.get(key) ?? { segments: segmentsOf(route.path), checks: [] };
    known.checks = checksOf(route.handler) ?? known.checks;
    byRoute.set(key, known);
  }
  return [...byRoute.values()];
}

/** Whether the route's first `count` segments match the path's (a parameter matches any). */
function sharesPrefix(route: KnownRoute, path: string[], count: number): boolean {
  for (let i = 0; i < count; i++) {
    const segment = route.segments[i];
    if (segment === undefined) return false;
    if (!segment.startsWith(":") && segment !== "*" && segment !== path[i]) return false;
  }
  return true;
}

/**
 * The routes a request no route answered is judged by: those at its path (it is a 405), else
 * those below the longest prefix of its path that has routes below it (a 404).
 */
function routesAround(routes: KnownRoute[], path: string[]): KnownRoute[] {
  const atPath = routes.filter(
    (r) => r.segments.length === path.length && sharesPrefix(r, path, path.length),
  );
  if (atPath.length > 0) return atPath;
  for (let count = path.length; count >= 0; count--) {
    const below = routes.filter((r) => r.segments.length > count && sharesPrefix(r, path, count));
    if (below.length > 0) return below;
  }
  return [];
}

/** The leading checks all the routes have in common (none if one of them is unguarded). */
function sharedChecks(routes: KnownRoute[]): readonly MiddlewareHandler[] {
  const [first, ...rest] = routes;
  if (!first) return [];
  let count = first.checks.length;
  for (const route of rest) {
    let i = 0;
    while (i < count && route.checks[i] === first.checks[i]) i++;
    count = i;
  }
  return first.checks.slice(0, count);
}

/**
 * Middleware for an app's catch-all route (the one answering 404 or 405): a request no route
 * answered first passes the checks every route around it makes, so a caller without credentials
 * gets their 401 and learns nothing of the paths behind them. Around means the routes at its
 * path, whatever their method (before a 405); else those under the longest prefix of its path
 * that has routes (before a 404): e.g. an unknown path among admin routes needs the admin token,
 * one beside public routes needs nothing. Give it the app whose catch-all it runs in; its routes
 * are read on first use, when all are registered.
 */
export function guardOfUnmatched(app: {
  routes: { path: string; method: string; handler: unknown }[];
}): MiddlewareHandler {
  let routes: KnownRoute[] | undefined;
  return async function unmatchedGuard(c, next) {
    routes ??= knownRoutes(app.routes);
    const checks = sharedChecks(routesAround(routes, segmentsOf(pathWithinApp(c))));
    return checks.length > 0 ? every(...checks)(c, next) : next();
  };
}
