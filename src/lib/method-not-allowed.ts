import type { MiddlewareHandler } from "hono";
import type { RouterRoute } from "hono/types";

interface PathMethods {
  pattern: RegExp;
  methods: Set<string>;
}

/** Groups the routes with a method (middleware is "ALL") by path, as a pattern and its methods. */
function pathMethods(routes: RouterRoute[]): PathMethods[] {
  const byPath = new Map<string, Set<string>>();
  for (const route of routes) {
    if (route.method === "ALL") continue;
    const methods = byPath.get(route.path) ?? new Set<string>();
    methods.add(route.method.toUpperCase());
    byPath.set(route.path, methods);
  }
  return [...byPath].map(([path, methods]) => {
    const source = path
      .split("/")
      .map((segment) => (segment.startsWith(":") ? "[^/]+" : segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")))
      .join("/");
    return { pattern: new RegExp(`^${source}$`), methods };
  });
}

/**
 * A request whose path a route serves, with a method none of them has, is refused before
 * anything else runs (authentication included) by `reject(allow)`, which throws the system's own
 * 405 error carrying `Allow` (RFC 9110 15.5.6). `Allow` is derived from the app's registered routes
 * (read on first use, so register this first and the routes after); HEAD is listed with GET, which
 * answers it. `mountPath` is where the app is mounted ("/acme"), as its routes are written without it.
 */
export function rejectUnlistedMethods(options: {
  mountPath?: string;
  routes: () => RouterRoute[];
  reject: (allow: string) => never;
}): MiddlewareHandler {
  const mountPath = options.mountPath ?? "";
  let paths: PathMethods[] | undefined;
  return async function methodNotAllowed(c, next) {
    paths ??= pathMethods(options.routes());
    const path = c.req.path.startsWith(mountPath) ? c.req.path.slice(mountPath.length) || "/" : c.req.path;
    const served = paths.filter((p) => p.pattern.test(path));
    if (served.length === 0) return next();
    const allowed = new Set(served.flatMap((p) => [...p.methods]));
    if (allowed.has("GET")) allowed.add("HEAD");
    const method = c.req.method.toUpperCase();
    if (allowed.has(method)) return next();
    options.reject([...allowed].sort().join(", "));
  };
}
