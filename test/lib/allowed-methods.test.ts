import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { allowedMethods } from "../../src/lib/allowed-methods.ts";

/** A small app shaped like both systems: routers mounted under a prefix, a catch-all last. */
function appMountedAt(prefix: string) {
  const inner = new Hono();
  inner.use("*", async (_c, next) => next());
  inner.get("/items", (c) => c.text("list"));
  inner.post("/items", (c) => c.text("create"));
  inner.get("/items/:id", (c) => c.text("read"));
  inner.delete("/items/:id", (c) => c.text("delete"));
  inner.patch("/items/:id", (c) => c.text("patch"));
  inner.put("/settings", (c) => c.text("put"));
  const allowFor = allowedMethods(inner);
  inner.all("*", (c) => c.json({ allow: allowFor(c) }, allowFor(c).length > 0 ? 405 : 404));
  const outer = new Hono();
  outer.route(prefix, inner);
  return outer;
}

describe("allowedMethods", () => {
  it.each(["/", "/acme"])("derives Allow from the routes of an app mounted at %s", async (prefix) => {
    const app = appMountedAt(prefix);
    const base = prefix === "/" ? "" : prefix;
    const cases: [string, string, number, string[]][] = [
      ["PUT", "/items", 405, ["GET", "HEAD", "POST"]],
      ["POST", "/items/42", 405, ["GET", "HEAD", "PATCH", "DELETE"]],
      ["GET", "/settings", 405, ["PUT"]],
      ["OPTIONS", "/items", 405, ["GET", "HEAD", "POST"]],
      ["GET", "/nothing", 404, []],
      ["GET", "/items/42/more", 404, []],
    ];
    for (const [method, path, status, allow] of cases) {
      const res = await app.request(`${base}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(status);
      expect(await res.json()).toEqual({ allow });
    }
    // The routes themselves still answer.
    expect(await (await app.request(`${base}/items/42`, { method: "PATCH" })).text()).toBe("patch");
  });

  it("answers HEAD from the GET route, and with 405 where the path has no GET", async () => {
    const app = appMountedAt("/acme");
    const read = await app.request("/acme/items/42", { method: "HEAD" });
    expect(read.status).toBe(200);
    const settings = await app.request("/acme/settings", { method: "HEAD" });
    expect(settings.status).toBe(405);
  });
});
