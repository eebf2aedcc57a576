import { Hono } from "hono";
import { createAcmeApp } from "./acme/app.ts";
import { log } from "./lib/logger.ts";

/**
 * The Worker's HTTP surface: the mock Acme CRM under /acme and the integration under /api.
 * The two halves share nothing but this file and src/lib.
 */
export function createApp() {
  const acme = createAcmeApp();
  const app = new Hono<{ Bindings: Env }>();

  app.use("/acme/*", async function acmeRequestLog(c, next) {
    const started = performance.now();
    await next();
    log("info", "acme request", {
      system: "acme",
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: Math.round((performance.now() - started) * 10) / 10,
    });
  });
  app.route("/acme", acme);
  app.get("/health", (c) => c.json({ status: "ok" }));

  return app;
}
