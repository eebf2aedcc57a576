import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CONTACT_FIELDS as MAPPING } from "../../src/integration/contacts/mapping.ts";
import {
  admin,
  api,
  BASE,
  createContact,
  errorFields,
  expectProblem,
  newConnection,
  person,
} from "./helpers.ts";

interface SchemaObject {
  properties?: Record<string, { pattern?: string; description?: string }>;
  required?: string[];
}

interface Parameter {
  name: string;
  schema: { pattern?: string };
}

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { security?: unknown[]; responses?: Record<string, unknown> }>>;
  components: { schemas: Record<string, SchemaObject>; securitySchemes?: Record<string, unknown> };
}

async function spec(): Promise<{ doc: OpenApiDocument; text: string }> {
  const res = await SELF.fetch(`${BASE}/api/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const text = await res.text();
  return { doc: JSON.parse(text) as OpenApiDocument, text };
}

const CONTACT_FIELDS = [
  "id",
  "firstName",
  "lastName",
  "email",
  "phone",
  "company",
  "title",
  "notes",
  "version",
  "createdAt",
  "updatedAt",
  "deletedAt",
];

describe("OpenAPI document", () => {
  it("is OpenAPI 3.1 and needs no credentials to read", async () => {
    const { doc } = await spec();
    expect(doc.openapi).toMatch(/^3\.1\./);
    expect(doc.info.title.length).toBeGreaterThan(0);
  });

  it("lists the contact routes under /api/v1 and under /api, each with its methods", async () => {
    const { doc } = await spec();
    for (const prefix of ["/api/v1", "/api"]) {
      expect(Object.keys(doc.paths[`${prefix}/contacts`] ?? {}).sort()).toEqual(["get", "post"]);
      expect(Object.keys(doc.paths[`${prefix}/contacts/{id}`] ?? {}).sort()).toEqual([
        "delete",
        "get",
        "patch",
        "put",
      ]);
    }
  });

  it("every contact operation requires an API key", async () => {
    const { doc } = await spec();
    for (const [path, operations] of Object.entries(doc.paths)) {
      if (!path.includes("/contacts")) continue;
      for (const operation of Object.values(operations)) {
        expect(operation.security).toEqual([{ ApiKey: [] }]);
      }
    }
    expect(doc.components.securitySchemes).toHaveProperty("ApiKey");
  });

  it("the Contact schema has exactly the API's fields, and no Acme field name appears anywhere", async () => {
    const { doc, text } = await spec();
    // The table's fields, and the connection's own custom fields in one object.
    expect(Object.keys(doc.components.schemas.Contact?.properties ?? {}).sort()).toEqual(
      [...CONTACT_FIELDS, "customFields"].sort(),
    );
    // Acme's field names stay behind the mapping (the API's own codes, acme_unavailable and the
    // like, name Acme as the upstream and are fine).
    const acmeNames = MAPPING.map((field) => field.acme).filter((name) => name.startsWith("acme_"));
    expect(acmeNames.length).toBeGreaterThan(5);
    for (const name of acmeNames) expect(text).not.toContain(name);
    // Only soft-deleted contacts have deletedAt, so it is not required.
    expect(doc.components.schemas.Contact?.required).not.toContain("deletedAt");
  });

  it("the input schema holds only writable fields and requires firstName, lastName and email", async () => {
    const { doc } = await spec();
    const input = doc.components.schemas.ContactInput;
    expect(Object.keys(input?.properties ?? {}).sort()).toEqual(
      ["company", "customFields", "email", "firstName", "lastName", "notes", "phone", "title"].sort(),
    );
    expect([...(input?.required ?? [])].sort()).toEqual(["email", "firstName", "lastName"]);
  });

  it("documents a phone pattern that accepts the phones the API accepts, extension in either case", async () => {
    const { doc } = await spec();
    const pattern = doc.components.schemas.ContactInput?.properties?.phone?.pattern;
    expect(pattern).toEqual(expect.any(String));
    const documented = new RegExp(pattern ?? "", "u");
    const { apiKey } = await newConnection();
    for (const phone of ["+44 20 7946 0000", "+1 (555) 010-0199 x12", "+1 555 0100 X7"]) {
      expect(documented.test(phone), phone).toBe(true);
      expect((await createContact(apiKey, person({ phone }))).phone).toBe(phone);
    }
    expect(documented.test("call me")).toBe(false);
  });

  it("states what a replace does with id and version: id only as the path's, version ignored", async () => {
    const { doc } = await spec();
    const { apiKey } = await newConnection();
    const made = await createContact(apiKey);
    const put = (body: unknown) => api(`/api/v1/contacts/${made.id}`, { key: apiKey, method: "PUT", body });
    for (const name of ["ContactReplace", "ContactSeedUpdate"]) {
      const id = doc.components.schemas[name]?.properties?.id;
      expect(id, name).toMatchObject({
        minLength: 1,
        maxLength: 64,
        description: expect.stringMatching(/path/),
      });
      const documented = new RegExp(id?.pattern ?? "", "u");
      expect(documented.test(made.id)).toBe(true);
      expect(documented.test("not an id")).toBe(false);
      expect(doc.components.schemas[name]?.properties?.version?.description).toMatch(/If-Match/);
    }
    // The server's side of it: the contact as read goes back as is, an older version included.
    expect((await put({ ...made, version: 99 })).status).toBe(200);
    for (const id of ["ct_someone_else", "not an id", ""]) {
      const body = await expectProblem(await put({ ...made, id }), 400, "validation_failed");
      expect(new Set(errorFields(body)), id).toEqual(new Set(["id"]));
    }
  });

  it("documents If-Match and If-None-Match with the grammar the server reads", async () => {
    const { doc } = await spec();
    const get = doc.paths["/api/v1/contacts/{id}"]?.get as { parameters?: Parameter[] } | undefined;
    const parameters = get?.parameters;
    const { apiKey } = await newConnection();
    const made = await createContact(apiKey);
    for (const name of ["if-match", "if-none-match"]) {
      const pattern = parameters?.find((p) => p.name === name)?.schema.pattern;
      expect(pattern, name).toEqual(expect.any(String));
      const documented = new RegExp(pattern ?? "", "u");
      for (const value of ['"1"', 'W/"1", "2"', "*", ""]) {
        expect(documented.test(value), `${name}: ${value}`).toBe(true);
        const res = await api(`/api/v1/contacts/${made.id}`, { key: apiKey, headers: { [name]: value } });
        expect(res.status, `${name}: ${value}`).not.toBe(400);
      }
      for (const value of ["1", '"1" "2"', '*, "1"']) {
        expect(documented.test(value), `${name}: ${value}`).toBe(false);
        const res = await api(`/api/v1/contacts/${made.id}`, { key: apiKey, headers: { [name]: value } });
        await expectProblem(res, 400, "precondition_invalid");
      }
    }
  });

  it("errors are documented as problem+json", async () => {
    const { doc } = await spec();
    const responses = doc.paths["/api/v1/contacts/{id}"]?.get?.responses ?? {};
    expect(responses["404"]).toMatchObject({ content: { "application/problem+json": expect.anything() } });
    expect(doc.components.schemas.Problem?.required).toEqual(
      expect.arrayContaining(["type", "title", "status", "detail", "code", "requestId"]),
    );
  });

  it("every error response of every operation is problem+json with the one Problem schema, and nothing else", async () => {
    const { doc } = await spec();
    const errors: Array<[string, unknown]> = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        for (const [status, response] of Object.entries(operation.responses ?? {})) {
          if (Number(status) >= 400) errors.push([`${method} ${path} ${status}`, response]);
        }
      }
    }
    expect(errors.length).toBeGreaterThan(40);
    for (const [where, response] of errors) {
      expect({ where, response }).toMatchObject({
        where,
        response: {
          description: expect.stringMatching(/\S/),
          content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
        },
      });
      expect(Object.keys((response as { content: object }).content)).toEqual(["application/problem+json"]);
    }
  });

  it("writes with a JSON body declare 413 and 415", async () => {
    const { doc } = await spec();
    for (const [path, method] of [
      ["/api/v1/contacts", "post"],
      ["/api/v1/contacts/{id}", "put"],
      ["/api/v1/contacts/{id}", "patch"],
    ] as const) {
      expect(Object.keys(doc.paths[path]?.[method]?.responses ?? {})).toEqual(
        expect.arrayContaining(["413", "415"]),
      );
    }
  });

  it("only GET serves it: other methods are a 405 problem with Allow", async () => {
    const res = await SELF.fetch(`${BASE}/api/openapi.json`, { method: "POST" });
    await expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("GET, HEAD");
  });
});

describe("docs and health", () => {
  it("/docs is an HTML page pointing at the OpenAPI document", async () => {
    const res = await SELF.fetch(`${BASE}/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/<html/i);
    expect(html).toContain("/api/openapi.json");
  });

  it("/docs/anything is a 404 problem, not the page", async () => {
    await expectProblem(await SELF.fetch(`${BASE}/docs/anything`), 404, "not_found");
  });

  it("/health is 200 without credentials", async () => {
    const res = await SELF.fetch(`${BASE}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ok" });
    expect(res.headers.get("x-request-id")).toMatch(/\S/);
  });

  it("/health answers GET only: other methods are 405 with Allow", async () => {
    const res = await SELF.fetch(`${BASE}/health`, { method: "DELETE" });
    await expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("GET, HEAD");
  });
});

describe("a method a path does not have", () => {
  it("is 405 with Allow listing the path's methods; without an API key, 401 comes first", async () => {
    const { apiKey } = await newConnection();
    const authorization = `Bearer ${apiKey}`;
    const res = await SELF.fetch(`${BASE}/api/v1/contacts/ct_1`, {
      method: "POST",
      headers: { authorization },
    });
    await expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("GET, HEAD, PUT, PATCH, DELETE");
    const list = await SELF.fetch(`${BASE}/api/contacts`, { method: "DELETE", headers: { authorization } });
    await expectProblem(list, 405, "method_not_allowed");
    expect(list.headers.get("allow")).toBe("GET, HEAD, POST");
    await expectProblem(
      await SELF.fetch(`${BASE}/api/v1/contacts/ct_1`, { method: "POST" }),
      401,
      "unauthorized",
    );
  });

  it("lists only the admin route's own method, and leaves unknown paths a 404", async () => {
    const res = await admin("/api-keys/key_1", { method: "GET" });
    await expectProblem(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("DELETE");
    await expectProblem(await SELF.fetch(`${BASE}/api/v1/nowhere`, { method: "POST" }), 404, "not_found");
  });
});
