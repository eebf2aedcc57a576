import type { Context } from "hono";
import { basePath } from "hono/route";
import { METHOD_NAME_ALL } from "hono/router";
import { TrieRouter } from "hono/router/trie-router";

/** The order methods are listed in `Allow`; others follow alphabetically. */
const METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

function byMethodOrder(a: string, b: string): number {
  const rank = (m: string) => {
    const i = METHOD_ORDER.indexOf(m);
    return i < 0 ? METHOD_ORDER.length : i;
  };
  return rank(a) - rank(b) || a.localeCompare(b);
}

/**
 * The request's path relative to where the app handling it is mounted: inside an app mounted with
 * app.route("/acme", ...), the request path still carries "/acme", its routes do not.
 */
export function pathWithinApp(c: Context): string {
  const base = basePath(c).replace(/\/$/, "");
  return c.req.path.slice(base.length) || "/";
}

/**
 * The methods a path has, derived from an app's registered routes, for `405 Method Not Allowed`
 * and its `Allow` header (RFC 9110 15.5.6, 10.2.1). Give it the app whose catch-all route calls
 * the returned function; the routes are read on first use, when all are registered. Middleware
 * (`app.use`, registered for every method) and catch-alls (`app.all`) count as no method. GET
 * implies HEAD, which Hono answers from the GET route.
 *
 * The returned function takes the request's context and gives the sorted methods of its path,
 * relative to where the app is mounted; an empty list means no route has the path at all (404).
 */
export function allowedMethods(app: {
  routes: { path: string; method: string }[];
}): (c: Context) => string[] {
  let router: TrieRouter<string> | undefined;
  function build(): TrieRouter<string> {
    const built = new TrieRouter<string>();
    // Each route is added for every method, carrying its own: one match gives every method of a path.
    for (const route of app.routes) {
      if (route.method !== METHOD_NAME_ALL) built.add(METHOD_NAME_ALL, route.path, route.method);
    }
    return built;
  }
  return function allowFor(c: Context): string[] {
    router ??= build();
    const [matches] = router.match(c.req.method, pathWithinApp(c));
    const methods = new Set(matches.map(([method]) => method));
    if (methods.has("GET")) methods.add("HEAD");
    return [...methods].sort(byMethodOrder);
  };
}
