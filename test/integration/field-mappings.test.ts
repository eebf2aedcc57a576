import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { beforeAll, describe, expect, it } from "vitest";
import {
  acmeCallsDuring,
  archiveProperty,
  defineProperties,
  EVERY_TYPE,
  EVERY_TYPE_MAPPED,
  mapFields,
} from "./custom-field-helpers.ts";
import { api, errorFields, expectProblem, newConnection, type TestConnection } from "./helpers.ts";

let a: TestConnection;
let b: TestConnection;

beforeAll(async () => {
  [a, b] = await Promise.all([newConnection(), newConnection()]);
  await defineProperties(a);
  await defineProperties(a, [{ name: "old_code", label: "Old code", type: "string" }]);
  await archiveProperty(a, "old_code");
});

async function mapping(key: string) {
  const res = await api("/api/v1/field-mappings", { key });
  expect(res.status).toBe(200);
  return res.json<{ customFields: Record<string, { remote: string }> }>();
}

const put = (key: string, body: unknown) => api("/api/v1/field-mappings", { key, method: "PUT", body });

describe("GET /api/v1/remote-fields", () => {
  it("lists the connection's Acme properties live from Acme, archived ones included", async () => {
    const res = await api("/api/v1/remote-fields", { key: a.apiKey });
    expect(res.status).toBe(200);
    const { data } = await res.json<{ data: Record<string, unknown>[] }>();
    expect(data).toEqual(
      expect.arrayContaining([
        ...EVERY_TYPE.map((p) => ({ ...p, archived: false })),
        { name: "old_code", label: "Old code", type: "string", archived: true },
      ]),
    );
    expect(data).toHaveLength(EVERY_TYPE.length + 1);
  });

  it("is the connection's own account's: another connection lists its own (none here)", async () => {
    const res = await api("/api/v1/remote-fields", { key: b.apiKey });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: [] });
  });

  it("needs an API key", async () => {
    await expectProblem(await api("/api/v1/remote-fields"), 401, "unauthorized");
  });
});

describe("GET and PUT /api/v1/field-mappings", () => {
  it("starts empty; a PUT replaces it as a whole and GET returns what was stored", async () => {
    const connection = await newConnection();
    await defineProperties(connection);
    expect(await mapping(connection.apiKey)).toEqual({ customFields: {} });
    const res = await put(connection.apiKey, { customFields: EVERY_TYPE_MAPPED });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ customFields: EVERY_TYPE_MAPPED });
    expect(await mapping(connection.apiKey)).toEqual({ customFields: EVERY_TYPE_MAPPED });
    const smaller = { tier: { remote: "contract_tier" } };
    expect(await (await put(connection.apiKey, { customFields: smaller })).json()).toEqual({
      customFields: smaller,
    });
    expect(await mapping(connection.apiKey)).toEqual({ customFields: smaller });
    expect(await (await put(connection.apiKey, { customFields: {} })).json()).toEqual({ customFields: {} });
  });

  it("what GET returns is accepted back by PUT, unchanged", async () => {
    await mapFields(a.apiKey, EVERY_TYPE_MAPPED);
    const current = await mapping(a.apiKey);
    const res = await put(a.apiKey, current);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(current);
  });

  it("a mapping is the connection's own: another connection's stays as it was", async () => {
    await mapFields(a.apiKey, EVERY_TYPE_MAPPED);
    expect(await mapping(b.apiKey)).toEqual({ customFields: {} });
  });

  it("a name that is one of the contact's own fields is 400 naming it, and changes nothing", async () => {
    await mapFields(a.apiKey, EVERY_TYPE_MAPPED);
    for (const name of ["email", "firstName", "id", "version", "deletedAt", "customFields"]) {
      const body = await expectProblem(
        await put(a.apiKey, { customFields: { [name]: { remote: "nickname" } } }),
        400,
        "validation_failed",
      );
      expect(errorFields(body)).toEqual([`customFields.${name}`]);
    }
    expect(await mapping(a.apiKey)).toEqual({ customFields: EVERY_TYPE_MAPPED });
  });

  it("a name outside the pattern is 400 naming it", async () => {
    for (const name of ["Tier", "1tier", "tier_code", "t".repeat(65), "", "__proto__"]) {
      const body = await expectProblem(
        await api("/api/v1/field-mappings", {
          key: a.apiKey,
          method: "PUT",
          body: `{"customFields": {${JSON.stringify(name)}: {"remote": "nickname"}}}`,
        }),
        400,
        "validation_failed",
      );
      expect(errorFields(body)).toEqual([`customFields.${name}`]);
    }
  });

  it("one Acme property mapped twice is 400 naming the second", async () => {
    const body = await expectProblem(
      await put(a.apiKey, {
        customFields: { tier: { remote: "contract_tier" }, level: { remote: "contract_tier" } },
      }),
      400,
      "validation_failed",
    );
    expect(errorFields(body)).toEqual(["customFields.level.remote"]);
  });

  it("a malformed body is 400 naming the field: no customFields, a missing or extra key, a remote not a string", async () => {
    for (const [body, fields] of [
      [{}, ["customFields"]],
      [{ customFields: {}, extra: 1 }, ["extra"]],
      [{ customFields: { tier: {} } }, ["customFields.tier.remote"]],
      [{ customFields: { tier: { remote: "contract_tier", type: "string" } } }, ["customFields.tier.type"]],
      [{ customFields: { tier: { remote: 7 } } }, ["customFields.tier.remote"]],
      [{ customFields: { tier: "contract_tier" } }, ["customFields.tier"]],
    ] as const) {
      const problem = await expectProblem(await put(a.apiKey, body), 400, "validation_failed");
      expect({ body, fields: errorFields(problem) }).toEqual({ body, fields });
    }
  });

  it("an Acme property the account does not have, or has archived, is 422 unknown_remote_field naming it; nothing changes", async () => {
    await mapFields(a.apiKey, { tier: { remote: "contract_tier" } });
    const body = await expectProblem(
      await put(a.apiKey, {
        customFields: {
          seats: { remote: "seats" },
          shoeSize: { remote: "shoe_size" },
          oldCode: { remote: "old_code" },
        },
      }),
      422,
      "unknown_remote_field",
    );
    expect(errorFields(body)).toEqual(["customFields.oldCode.remote", "customFields.shoeSize.remote"]);
    expect(body.detail).toContain("shoe_size");
    expect(body.detail).toContain("old_code");
    expect(await mapping(a.apiKey)).toEqual({ customFields: { tier: { remote: "contract_tier" } } });
  });

  it("another account's property is unknown to this connection", async () => {
    const res = await put(b.apiKey, { customFields: { tier: { remote: "contract_tier" } } });
    await expectProblem(res, 422, "unknown_remote_field");
    expect(await mapping(b.apiKey)).toEqual({ customFields: {} });
  });

  it("a refused name costs no call to Acme; a valid PUT costs one (the property list)", async () => {
    expect(
      await acmeCallsDuring(() => put(a.apiKey, { customFields: { email: { remote: "nickname" } } })),
    ).toBe(0);
    expect(await acmeCallsDuring(() => put(a.apiKey, { customFields: EVERY_TYPE_MAPPED }))).toBe(1);
  });

  it("needs an API key", async () => {
    await expectProblem(await api("/api/v1/field-mappings"), 401, "unauthorized");
    await expectProblem(
      await api("/api/v1/field-mappings", { method: "PUT", body: { customFields: {} } }),
      401,
      "unauthorized",
    );
  });
});

describe("GET /api/v1/field-mappings/schema", () => {
  it("is the JSON Schema of the connection's contact, customFields typed by the mapped properties", async () => {
    await mapFields(a.apiKey, EVERY_TYPE_MAPPED);
    const res = await api("/api/v1/field-mappings/schema", { key: a.apiKey });
    expect(res.status).toBe(200);
    const schema = await res.json<{
      $schema: string;
      properties: Record<string, { properties?: Record<string, unknown>; required?: string[] }>;
      required: string[];
    }>();
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schema.required).toEqual(expect.arrayContaining(["id", "email", "version", "customFields"]));
    const custom = schema.properties.customFields;
    expect(custom).toMatchObject({ type: "object", additionalProperties: false });
    expect(custom?.required?.sort()).toEqual(Object.keys(EVERY_TYPE_MAPPED).sort());
    const ajv = new Ajv2020({ strict: true, strictTypes: false });
    addFormats(ajv);
    const validate = ajv.compile(custom ?? {});
    const good = { nickname: "Ada", seats: 3, vip: true, renewalDate: "2026-09-30", tier: "gold" };
    expect(validate(good)).toBe(true);
    expect(validate({ nickname: null, seats: null, vip: null, renewalDate: null, tier: null })).toBe(true);
    for (const [field, value] of [
      ["nickname", 7],
      ["nickname", "x".repeat(1001)],
      ["seats", "3"],
      ["vip", "true"],
      ["renewalDate", "30/09/2026"],
      ["tier", "platinum"],
      ["unmapped", "x"],
    ] as const) {
      expect({ field, value, valid: validate({ ...good, [field]: value }) }).toEqual({
        field,
        value,
        valid: false,
      });
    }
    const { tier: _, ...withoutTier } = good;
    expect(validate(withoutTier)).toBe(false);
  });

  it("follows the mapping at once, and another connection's has no custom fields", async () => {
    const connection = await newConnection();
    await defineProperties(connection);
    await mapFields(connection.apiKey, { vip: { remote: "vip" } });
    const first = await (await api("/api/v1/field-mappings/schema", { key: connection.apiKey })).json<{
      properties: { customFields: { properties: Record<string, unknown> } };
    }>();
    expect(Object.keys(first.properties.customFields.properties)).toEqual(["vip"]);
    await mapFields(connection.apiKey, { seats: { remote: "seats" } });
    const second = await (await api("/api/v1/field-mappings/schema", { key: connection.apiKey })).json<{
      properties: { customFields: { properties: Record<string, unknown> } };
    }>();
    expect(Object.keys(second.properties.customFields.properties)).toEqual(["seats"]);
    const other = await (await api("/api/v1/field-mappings/schema", { key: b.apiKey })).json<{
      properties: { customFields: { properties: Record<string, unknown> } };
    }>();
    expect(other.properties.customFields.properties).toEqual({});
  });
});
