import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createAcmeWorkerApp } from "../src/acme-worker-app.ts";
import { createProductionApp } from "../src/production-app.ts";

// The HTTP surfaces of the two deployed Workers (env.production, env.acme), run here against this
// Worker's bindings: what each serves, and what it refuses to. (test/e2e/split.e2e.test.ts runs
// them as two real Workers talking over HTTP.)

afterEach(() => {
  vi.restoreAllMocks();
});

/** The test env as env.production has it: no mock in the Worker, these vars (undefined: removed). */
function productionEnv(vars: Record<string, string | undefined>): Env {
  const copy: Record<string, unknown> = { ...env, ACME_IN_PROCESS: undefined };
  for (const [name, value] of Object.entries(vars)) copy[name] = value;
  return copy as unknown as Env;
}

async function ask(
  app: { fetch: (r: Request, e: Env, c: ExecutionContext) => Response | Promise<Response> },
  path: string,
  workerEnv: Env,
) {
  const ctx = createExecutionContext();
  const response = await app.fetch(new Request(`https://worker.test${path}`), workerEnv, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

describe("the production Worker (the integration alone)", () => {
  const app = createProductionApp();
  const configured = productionEnv({ ACME_BASE_URL: "https://acme.example.com/acme" });

  it("answers its own routes", async () => {
    const res = await ask(app, "/health", configured);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
    expect((await ask(app, "/api/openapi.json", configured)).status).toBe(200);
  });

  it.each(["/acme/v1/contacts", "/acme/openapi.json", "/acme/admin/clients"])(
    "serves no mock: %s is the integration's 404",
    async (path) => {
      const res = await ask(app, path, configured);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(await res.json()).toMatchObject({ code: "not_found" });
    },
  );

  it("refuses to answer without ACME_BASE_URL, logging why", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const res = await ask(app, "/health", productionEnv({ ACME_BASE_URL: undefined }));
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ code: "internal_error" });
    expect(logged.mock.calls.map((args) => String(args[0])).join("\n")).toMatch(
      /invalid integration configuration: ACME_BASE_URL: required/,
    );
  });
});

describe("the Acme Worker (the mock alone)", () => {
  const app = createAcmeWorkerApp();

  it("answers the mock's routes under /acme", async () => {
    const res = await ask(app, "/acme/.well-known/jwks.json", env);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
  });

  it.each(["/api/v1/contacts", "/api/openapi.json", "/console", "/health", "/"])(
    "serves no integration: %s is Acme's 404",
    async (path) => {
      const res = await ask(app, path, env);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: { code: "not_found", message: "No such route." } });
    },
  );
});
