import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { expectAcmeError } from "../acme/helpers.ts";
import { expectProblem } from "../integration/helpers.ts";
import { type DocumentedOperation, documentedOperations, servedDocuments } from "./served-operations.ts";

// Security as the documents declare it: every operation with a `security` requirement, asked
// without credentials, answers 401 in its system's format. Routes enforce what they declare
// (securedRoute), not path globs; this walk is what fails when a secured route loses its guard.

const ORIGIN = "http://bridge.test";

type SecuredOperation = DocumentedOperation;

const ALL_OPERATIONS = documentedOperations(await servedDocuments());
const SECURED = ALL_OPERATIONS.filter(({ operation }) => (operation.security ?? []).length > 0);

/** The template with each path parameter set to its documented example, else a plausible id. */
function concretePath({ template, operation }: SecuredOperation): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const parameter = operation.parameters?.find((p) => p.in === "path" && p.name === name) as
      | { example?: unknown; schema?: { example?: unknown } }
      | undefined;
    const example = parameter?.example ?? parameter?.schema?.example;
    return encodeURIComponent(typeof example === "string" ? example : `${name}_01jd5x8m3q`);
  });
}

/** A request as a client that forgot its credentials sends it: a small body of a declared type. */
function requestWithoutCredentials(secured: SecuredOperation): RequestInit {
  const init: RequestInit = { method: secured.method.toUpperCase() };
  const content = secured.operation.requestBody?.content;
  if (content) {
    const mediaType = "application/json" in content ? "application/json" : Object.keys(content)[0];
    init.headers = { "content-type": mediaType ?? "application/json" };
    init.body = mediaType === "application/json" ? "{}" : "";
  }
  return init;
}

describe("every operation that declares security refuses a request without credentials", () => {
  it("walks a good share of both documents", () => {
    for (const system of ["integration", "acme"] as const) {
      const operations = ALL_OPERATIONS.filter((o) => o.system === system);
      const secured = SECURED.filter((o) => o.system === system);
      expect(secured.length, system).toBeGreaterThanOrEqual(10);
      // Public operations exist too (documents, health, the token endpoint): the filter is real.
      expect(secured.length, system).toBeLessThan(operations.length);
    }
  });

  it.each(
    SECURED.filter((o) => o.system === "integration").map((o) => [
      `${o.method.toUpperCase()} ${o.template}`,
      o,
    ]),
  )("integration: %s is 401 unauthorized with a Bearer challenge", async (_, secured) => {
    const res = await SELF.fetch(`${ORIGIN}${concretePath(secured)}`, requestWithoutCredentials(secured));
    await expectProblem(res, 401, "unauthorized");
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer realm="acme-bridge"$/);
  });

  it.each(
    SECURED.filter((o) => o.system === "acme").map((o) => [`${o.method.toUpperCase()} ${o.template}`, o]),
  )("acme: %s is 401 with the bare Bearer challenge", async (_, secured) => {
    const res = await SELF.fetch(`${ORIGIN}${concretePath(secured)}`, requestWithoutCredentials(secured));
    await expectAcmeError(res, 401, "unauthorized");
    expect(res.headers.get("www-authenticate")).toBe('Bearer realm="acme"');
  });
});

describe("a path no route has answers after the credentials of the routes around it", () => {
  it.each([
    ["GET", "/api/v1/contacts/ct_1/extra"],
    ["POST", "/api/v1/jobs/job_1/nothing"],
    ["GET", "/api/v1/admin/nothing-here"],
  ])("integration: %s %s is 401", async (method, path) => {
    await expectProblem(await SELF.fetch(`${ORIGIN}${path}`, { method }), 401, "unauthorized");
  });

  it.each([
    ["GET", "/acme/v1/nothing"],
    ["GET", "/acme/v1/webhooks/wh_1/nothing"],
    ["GET", "/acme/admin/nothing"],
  ])("acme: %s %s is 401", async (method, path) => {
    await expectAcmeError(await SELF.fetch(`${ORIGIN}${path}`, { method }), 401, "unauthorized");
  });

  it.each([
    ["GET", "/api/v1/nothing"],
    ["GET", "/api/v1/status/more"],
    ["GET", "/webhooks/acme/conn_1/more"],
  ])("beside routes that differ or are public: integration %s %s is 404", async (method, path) => {
    await expectProblem(await SELF.fetch(`${ORIGIN}${path}`, { method }), 404, "not_found");
  });

  it("beside Acme's public routes: GET /acme/oauth/nothing is 404", async () => {
    await expectAcmeError(await SELF.fetch(`${ORIGIN}/acme/oauth/nothing`), 404, "not_found");
  });
});
