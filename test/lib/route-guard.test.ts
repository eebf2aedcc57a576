import { Hono, type MiddlewareHandler } from "hono";
import { describe, expect, it } from "vitest";
import { allowedMethods } from "../../src/lib/allowed-methods.ts";
import { guardOfUnmatched, routeGuard } from "../../src/lib/route-guard.ts";

/** A check that lets a request through only with `X-Pass` naming it, else answers 401 naming it. */
function check(name: string): MiddlewareHandler {
  return async function namedCheck(c, next) {
    if (!(c.req.header("x-pass") ?? "").split(",").includes(name)) return c.text(`no ${name}`, 401);
    await next();
  };
}

const TOKEN = check("token");
const LIMIT = check("limit");
const SCOPE = check("scope");
const ADMIN = check("admin");

/** Routes shaped like both systems: guarded areas beside public routes, a catch-all last. */
function appMountedAt(prefix: string) {
  const inner = new Hono();
  const user = routeGuard(TOKEN, LIMIT);
  const hooks = routeGuard(TOKEN, LIMIT, SCOPE);
  inner.get("/v1/items", user, (c) => c.text("list"));
  inner.get("/v1/items/:id", user, (c) => c.text("read"));
  inner.get("/v1/hooks/:id/runs", hooks, (c) => c.text("runs"));
  inner.get("/admin/faults", routeGuard(ADMIN), (c) => c.text("faults"));
  inner.get("/status", routeGuard(TOKEN), (c) => c.text("status"));
  inner.get("/public/doc", (c) => c.text("doc"));
  inner.post("/public/token", (c) => c.text("token"));
  const allowFor = allowedMethods(inner);
  inner.all("*", guardOfUnmatched(inner), (c) => c.text("", allowFor(c).length > 0 ? 405 : 404));
  const outer = new Hono();
  outer.route(prefix, inner);
  return outer;
}

describe("routeGuard", () => {
  it("runs its checks in order, then the route", async () => {
    const app = appMountedAt("/");
    expect(await (await app.request("/v1/items")).text()).toBe("no token");
    expect(await (await app.request("/v1/items", { headers: { "x-pass": "token" } })).text()).toBe(
      "no limit",
    );
    const res = await app.request("/v1/items/1", { headers: { "x-pass": "token,limit" } });
    expect(await res.text()).toBe("read");
  });
});

describe("guardOfUnmatched", () => {
  it.each(["/", "/acme"])(
    "checks an unmatched request as the routes around it do (mounted at %s)",
    async (prefix) => {
      const app = appMountedAt(prefix);
      const base = prefix === "/" ? "" : prefix;
      const cases: [method: string, path: string, pass: string, status: number, body: string][] = [
        // At a path with routes: their shared checks, then 405.
        ["POST", "/v1/items/1", "", 401, "no token"],
        ["POST", "/v1/items/1", "token", 401, "no limit"],
        ["POST", "/v1/items/1", "token,limit", 405, ""],
        ["POST", "/v1/hooks/1/runs", "token,limit", 401, "no scope"],
        ["POST", "/public/doc", "", 405, ""],
        // No route: the checks every route under the longest known prefix shares, then 404.
        ["GET", "/v1/items/1/more", "", 401, "no token"],
        ["GET", "/v1/nothing", "token", 401, "no limit"],
        // Items and hooks share the token and the limit, not the scope.
        ["GET", "/v1/nothing", "token,limit", 404, ""],
        ["GET", "/v1/hooks/1/nothing", "token,limit", 401, "no scope"],
        ["GET", "/admin/nothing", "", 401, "no admin"],
        ["GET", "/admin/nothing", "admin", 404, ""],
        // Nothing below /status; beside public routes, or at the root, nothing is shared.
        ["GET", "/status/more", "", 404, ""],
        ["GET", "/public/nothing", "", 404, ""],
        ["GET", "/nothing", "", 404, ""],
      ];
      for (const [method, path, pass, status, body] of cases) {
        const res = await app.request(`${base}${path}`, { method, headers: { "x-pass": pass } });
        expect(res.status, `${method} ${path} passing ${pass || "nothing"}`).toBe(status);
        expect(await res.text(), `${method} ${path}`).toBe(body);
      }
    },
  );
});
