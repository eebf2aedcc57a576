import { Validator } from "@seriousme/openapi-schema-validator";
import { describe, expect, it } from "vitest";
import { committedClientFiles, renderClientFiles } from "../../scripts/client-files.ts";
import { base } from "./helpers.ts";

async function served(path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

describe("the served OpenAPI documents", () => {
  it.each(["/api/openapi.json", "/acme/openapi.json"])("%s is valid OpenAPI 3.1", async (path) => {
    const validator = new Validator();
    const result = await validator.validate(await served(path));
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 2)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  it("a broken document fails the validator (the check above can fail)", async () => {
    const doc = structuredClone(await served("/api/openapi.json"));
    (doc.paths as Record<string, unknown>)["/api/v1/contacts"] = {
      get: { responses: { 200: { content: "not an object" } } },
    };
    expect((await new Validator().validate(doc)).valid).toBe(false);
  });
});

describe("the committed typed client", () => {
  it("was generated from the document the Worker serves (else run npm run client:generate)", async () => {
    const expected = await renderClientFiles(await served("/api/openapi.json"));
    const committed = committedClientFiles();
    expect(committed["openapi.json"], "client/openapi.json is stale").toBe(expected["openapi.json"]);
    expect(committed["schema.d.ts"], "client/schema.d.ts is stale").toBe(expected["schema.d.ts"]);
  });
});
