import { Hono } from "hono";
import { requestId } from "hono/request-id";
import { createAcmeApp } from "./acme/app.ts";
import { AcmeError, acmeErrorBody } from "./acme/errors.ts";

/**
 * The HTTP surface of the mock Acme deployed alone (env.acme): the CRM under /acme, as in the
 * default Worker, and Acme's own 404 for any other path (there is no /api here).
 */
export function createAcmeWorkerApp() {
  const app = new Hono<{ Bindings: Env }>();
  app.use("*", requestId());
  app.route("/acme", createAcmeApp());
  app.all("*", (c) => c.json(acmeErrorBody(new AcmeError("not_found", "No such route.")), 404));
  return app;
}
