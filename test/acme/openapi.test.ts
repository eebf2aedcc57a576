import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ACME, createContact, expectAcmeError, signedIn, uniqueEmail } from "./helpers.ts";

interface SchemaObject {
  type?: string | string[];
  properties?: Record<string, SchemaObject & { pattern?: string; maxLength?: number }>;
  required?: string[];
  additionalProperties?: boolean;
}

interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  servers: { url: string }[];
  paths: Record<
    string,
    Record<
      string,
      {
        security?: Record<string, string[]>[];
        parameters?: { name: string; in: string }[];
        requestBody?: { content: Record<string, unknown> };
        responses: Record<string, { content?: object; headers?: Record<string, unknown> }>;
      }
    >
  >;
  components: { schemas: Record<string, SchemaObject>; securitySchemes: Record<string, { type: string }> };
  webhooks?: Record<string, { post?: { requestBody?: { content: Record<string, { schema?: unknown }> } } }>;
}

async function document(): Promise<{ res: Response; doc: OpenApiDocument; text: string }> {
  const res = await SELF.fetch(`${ACME}/openapi.json`);
  const text = await res.text();
  return { res, doc: JSON.parse(text) as OpenApiDocument, text };
}

describe("GET /acme/openapi.json", () => {
  it("is an OpenAPI 3.1 document, served as JSON without a token", async () => {
    const { res, doc } = await document();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.servers).toEqual([{ url: "/acme" }]);
  });

  it("lists every contact operation and the token endpoint", async () => {
    const { doc } = await document();
    expect(Object.keys(doc.paths["/v1/contacts"] ?? {}).sort()).toEqual(["get", "post"]);
    expect(Object.keys(doc.paths["/v1/contacts/{id}"] ?? {}).sort()).toEqual([
      "delete",
      "get",
      "patch",
      "put",
    ]);
    expect(Object.keys(doc.paths["/oauth/token"] ?? {})).toEqual(["post"]);
    expect(doc.paths["/.well-known/jwks.json"]).toHaveProperty("get");
  });

  it("protects contact operations with the OAuth scheme and admin operations with the admin token", async () => {
    const { doc } = await document();
    expect(doc.components.securitySchemes.AcmeOAuth?.type).toBe("oauth2");
    for (const operation of Object.values({
      ...doc.paths["/v1/contacts"],
      ...doc.paths["/v1/contacts/{id}"],
    })) {
      expect(operation.security).toEqual([{ AcmeOAuth: [] }]);
    }
    expect(doc.paths["/admin/faults"]?.put?.security).toEqual([{ AdminToken: [] }]);
  });

  it("describes AcmeContact with exactly the fields the API returns", async () => {
    const { doc } = await document();
    const schema = doc.components.schemas.AcmeContact;
    const { token } = await signedIn();
    const contact = await createContact(token, { acme_email: uniqueEmail() });
    expect(Object.keys(schema?.properties ?? {}).sort()).toEqual(Object.keys(contact).sort());
    expect([...(schema?.required ?? [])].sort()).toEqual(Object.keys(contact).sort());
  });

  it("documents the input as closed (unknown fields rejected) with acme_email required", async () => {
    const { doc } = await document();
    const input = doc.components.schemas.AcmeContactInput;
    expect(input?.additionalProperties).toBe(false);
    expect(input?.required).toEqual(["acme_email"]);
    expect(input?.properties?.acme_first_name?.maxLength).toBe(100);
  });

  it("documents the replace as one closed object that takes back a contact as GET returned it", async () => {
    const { doc } = await document();
    const replace = doc.components.schemas.AcmeContactReplace;
    // An allOf of two closed schemas matches nothing: each refuses the other's fields.
    expect(replace).not.toHaveProperty("allOf");
    expect(replace?.additionalProperties).toBe(false);
    expect(replace?.required).toEqual(["acme_email"]);
    const { token } = await signedIn();
    const contact = await createContact(token, { acme_email: uniqueEmail() });
    expect(Object.keys(replace?.properties ?? {}).sort()).toEqual(Object.keys(contact).sort());
    const res = await SELF.fetch(`${ACME}/v1/contacts/${contact.id}`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ ...contact, acme_title: "Countess" }),
    });
    expect(res.status).toBe(200);
  });

  it("documents patterns that accept the values the API accepts", async () => {
    const { doc } = await document();
    const { token } = await signedIn();
    const phone = "+44 (20) 7946-0018 X12";
    const contact = await createContact(token, { acme_email: uniqueEmail(), acme_phone: phone });
    expect(contact.acme_phone).toBe(phone);

    const pattern = doc.components.schemas.AcmeContactInput?.properties?.acme_phone?.pattern;
    expect(pattern).toEqual(expect.any(String));
    const documented = new RegExp(pattern ?? "", "u");
    expect(documented.test(phone)).toBe(true);
    expect(documented.test("call me")).toBe(false);
  });

  it("reveals no secret of the deployment", async () => {
    const { text } = await document();
    const signingKey = JSON.parse(env.ACME_JWT_PRIVATE_KEY) as { d: string };
    expect(text).not.toContain(env.ACME_ADMIN_TOKEN);
    expect(text).not.toContain(env.ACME_CLIENT_SECRET_PEPPER);
    expect(text).not.toContain(signingKey.d);
  });

  it("declares 304 with the ETag (and no body) and both conditional headers on GET of one contact", async () => {
    const { doc } = await document();
    const get = doc.paths["/v1/contacts/{id}"]?.get;
    expect(get?.responses["304"]?.headers).toHaveProperty("ETag");
    expect(get?.responses["304"]?.content).toBeUndefined();
    expect(get?.responses["412"]).toBeDefined();
    const headers = (get?.parameters ?? []).filter((p) => p.in === "header").map((p) => p.name);
    expect(headers.sort()).toEqual(["if-match", "if-none-match"]);
    for (const method of ["put", "patch", "delete"]) {
      const operation = doc.paths["/v1/contacts/{id}"]?.[method];
      expect(Object.keys(operation?.responses ?? {})).toEqual(expect.arrayContaining(["400", "412"]));
    }
  });

  it("declares 413 on every operation, 415 wherever a JSON body is read, and the /v1 statuses every /v1 route can return", async () => {
    const { doc } = await document();
    let operations = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const statuses = Object.keys(operation.responses);
        const where = `${method.toUpperCase()} ${path}`;
        expect(statuses, where).toContain("413");
        if (operation.requestBody?.content["application/json"] && path !== "/oauth/token") {
          expect(statuses, where).toContain("415");
        }
        if (path.startsWith("/v1/")) {
          expect(statuses, where).toEqual(
            expect.arrayContaining(["400", "401", "403", "429", "500", "502", "503", "504"]),
          );
        }
        if (path.startsWith("/admin/"))
          expect(statuses, where).toEqual(expect.arrayContaining(["400", "401"]));
        operations += 1;
      }
    }
    expect(operations).toBeGreaterThan(12);
    expect(Object.keys(doc.paths["/admin/clients/{id}/rate-limits"]?.put?.responses ?? {})).toContain("404");
  });

  it("documents the custom property routes with every status they answer", async () => {
    const { doc } = await document();
    const statuses = (path: string, method: string) =>
      Object.keys(doc.paths[path]?.[method]?.responses ?? {});
    expect(Object.keys(doc.paths["/v1/properties"] ?? {}).sort()).toEqual(["get", "post"]);
    expect(Object.keys(doc.paths["/v1/properties/{name}"] ?? {})).toEqual(["delete"]);
    expect(statuses("/v1/properties", "get")).toContain("200");
    expect(statuses("/v1/properties", "post")).toEqual(expect.arrayContaining(["201", "400", "409", "415"]));
    expect(statuses("/v1/properties/{name}", "delete")).toEqual(
      expect.arrayContaining(["204", "400", "404"]),
    );
    const input = JSON.stringify(doc.components.schemas.AcmePropertyInput);
    expect(input).toContain('"pattern":"^[a-z][a-z0-9_]{0,62}$"');
    expect(input).toContain('"uniqueItems":true');
    expect(doc.components.schemas.AcmeProperty?.required?.sort()).toEqual([
      "archived",
      "label",
      "name",
      "type",
    ]);
  });

  it("declares acme_custom on every contact schema, required in the contact, and states its limits", async () => {
    const { doc, text } = await document();
    for (const name of ["AcmeContact", "AcmeContactInput", "AcmeContactReplace", "AcmeContactPatch"]) {
      const custom = doc.components.schemas[name]?.properties?.acme_custom as
        | (SchemaObject & { additionalProperties?: { anyOf?: { type: string }[] } })
        | undefined;
      expect(custom?.type, name).toBe("object");
      expect(custom?.additionalProperties?.anyOf?.map((s) => s.type)).toEqual(
        expect.arrayContaining(["string", "number", "boolean"]),
      );
    }
    expect(doc.components.schemas.AcmeContact?.required).toContain("acme_custom");
    expect(doc.components.schemas.AcmeContactInput?.required).toEqual(["acme_email"]);
    for (const limit of ["100", "1000", "16384"]) expect(text).toContain(` ${limit} `);
  });

  it("describes each contact webhook's payload: data and previous are the contact, acme_custom included", async () => {
    const { doc } = await document();
    expect(Object.keys(doc.webhooks ?? {}).sort()).toEqual([
      "contact.created",
      "contact.deleted",
      "contact.updated",
    ]);
    for (const hook of Object.values(doc.webhooks ?? {})) {
      expect(hook.post?.requestBody?.content["application/json"]?.schema).toEqual({
        $ref: "#/components/schemas/AcmeWebhookEvent",
      });
    }
    const event = doc.components.schemas.AcmeWebhookEvent;
    expect(event?.properties?.data).toEqual({ $ref: "#/components/schemas/AcmeContact" });
    expect(JSON.stringify(event?.properties?.previous)).toContain("#/components/schemas/AcmeContact");
    expect(event?.required?.sort()).toEqual(["data", "timestamp", "type"]);
  });

  it("answers other methods on the document with a JSON 405 and Allow", async () => {
    const res = await SELF.fetch(`${ACME}/openapi.json`, { method: "POST" });
    await expectAcmeError(res, 405, "method_not_allowed");
    expect(res.headers.get("allow")).toBe("GET, HEAD");
  });
});
