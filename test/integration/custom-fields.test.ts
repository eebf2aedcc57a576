import { beforeAll, describe, expect, it } from "vitest";
import { acme, tokenFor, uniqueEmail } from "../acme/helpers.ts";
import {
  acmeCallsDuring,
  archiveProperty,
  defineProperties,
  EVERY_TYPE_MAPPED,
  mapFields,
} from "./custom-field-helpers.ts";
import {
  api,
  type Contact,
  connect,
  contactsWithEmail,
  createContact,
  errorFields,
  expectProblem,
  newConnection,
  person,
  type TestConnection,
} from "./helpers.ts";

let a: TestConnection;
let token: string;

beforeAll(async () => {
  a = await newConnection();
  await defineProperties(a);
  // Defined at Acme but never mapped by `a`: its values must survive every write through the API.
  await defineProperties(a, [{ name: "internal_code", label: "Internal code", type: "string" }]);
  await mapFields(a.apiKey, EVERY_TYPE_MAPPED);
  token = await tokenFor(a.acmeClient);
});

const NONE = { nickname: null, seats: null, vip: null, renewalDate: null, tier: null };
const SOME = { nickname: "Countess", seats: 3, vip: true, renewalDate: "2026-09-30", tier: "gold" };

async function atAcme(id: string): Promise<{ acme_custom: Record<string, unknown>; acme_version: number }> {
  const res = await acme(`/v1/contacts/${id}`, { token });
  expect(res.status).toBe(200);
  return res.json();
}

async function read(key: string, id: string): Promise<{ cache: string | null; contact: Contact }> {
  const res = await api(`/api/v1/contacts/${id}`, { key });
  expect(res.status).toBe(200);
  return { cache: res.headers.get("x-cache"), contact: await res.json<Contact>() };
}

async function write(method: "PUT" | "PATCH", id: string, body: unknown, key = a.apiKey) {
  return api(`/api/v1/contacts/${id}`, { key, method, body });
}

describe("customFields on reads", () => {
  it("a contact shows every mapped field, null when unset, and nothing of the properties the connection does not map", async () => {
    const contact = await createContact(a.apiKey);
    expect(contact.customFields).toEqual(NONE);
    const res = await acme(`/v1/contacts/${contact.id}`, {
      token,
      method: "PATCH",
      body: { acme_custom: { seats: 12, contract_tier: "silver", internal_code: "X-1" } },
    });
    expect(res.status).toBe(200);
    const fresh = await api(`/api/v1/contacts/${contact.id}`, {
      key: a.apiKey,
      headers: { "cache-control": "no-cache" },
    });
    expect((await fresh.json<Contact>()).customFields).toEqual({ ...NONE, seats: 12, tier: "silver" });
  });

  it("a connection mapping nothing reads customFields {}", async () => {
    const plain = await newConnection();
    const contact = await createContact(plain.apiKey);
    expect(contact.customFields).toEqual({});
    expect((await read(plain.apiKey, contact.id)).contact.customFields).toEqual({});
  });

  it("lists carry them too", async () => {
    const contact = await createContact(a.apiKey, person({ customFields: { vip: true } }));
    const [listed] = await contactsWithEmail(a.apiKey, contact.email);
    expect(listed?.customFields).toEqual({ ...NONE, vip: true });
  });
});

describe("customFields on writes", () => {
  it("a create sets them, and Acme holds them under its property names", async () => {
    const contact = await createContact(a.apiKey, person({ customFields: SOME }));
    expect(contact.customFields).toEqual(SOME);
    expect((await atAcme(contact.id)).acme_custom).toEqual({
      nickname: "Countess",
      seats: 3,
      vip: true,
      renewal_date: "2026-09-30",
      contract_tier: "gold",
    });
    expect((await read(a.apiKey, contact.id)).contact.customFields).toEqual(SOME);
  });

  it("PATCH merges per field: one not named keeps its value, null clears one", async () => {
    const contact = await createContact(a.apiKey, person({ customFields: { nickname: "Ada", seats: 2 } }));
    const res = await write("PATCH", contact.id, { customFields: { seats: 5, vip: false, nickname: null } });
    expect(res.status).toBe(200);
    const patched = await res.json<Contact>();
    expect(patched.customFields).toEqual({ ...NONE, seats: 5, vip: false });
    expect(patched.firstName).toBe(contact.firstName);
    expect((await atAcme(contact.id)).acme_custom).toEqual({ seats: 5, vip: false });
  });

  it("PUT with customFields replaces them: a mapped field left out becomes null; Acme properties the connection does not map keep their values", async () => {
    const contact = await createContact(a.apiKey, person({ customFields: { nickname: "Ada", seats: 2 } }));
    await acme(`/v1/contacts/${contact.id}`, {
      token,
      method: "PATCH",
      body: { acme_custom: { internal_code: "keep-me" } },
    });
    const res = await write("PUT", contact.id, {
      ...person({ email: contact.email }),
      customFields: { vip: true },
    });
    expect(res.status).toBe(200);
    expect((await res.json<Contact>()).customFields).toEqual({ ...NONE, vip: true });
    expect((await atAcme(contact.id)).acme_custom).toEqual({ vip: true, internal_code: "keep-me" });
  });

  it("PUT without customFields keeps them as they are", async () => {
    const contact = await createContact(a.apiKey, person({ customFields: { tier: "bronze" } }));
    const res = await write("PUT", contact.id, person({ email: contact.email, company: "Engines" }));
    expect(res.status).toBe(200);
    const replaced = await res.json<Contact>();
    expect(replaced.company).toBe("Engines");
    expect(replaced.customFields).toEqual({ ...NONE, tier: "bronze" });
  });

  it("the round-trip law: a GET body PUT back is accepted and changes nothing (no new version)", async () => {
    const contact = await createContact(a.apiKey, person({ customFields: { ...SOME, nickname: null } }));
    const { contact: got } = await read(a.apiKey, contact.id);
    const res = await write("PUT", contact.id, got);
    expect(res.status).toBe(200);
    const back = await res.json<Contact>();
    expect(back).toEqual(got);
    expect((await atAcme(contact.id)).acme_version).toBe(contact.version);
  });

  it("the seed's PUT (/api/contacts) merges them, as it merges the other fields", async () => {
    const contact = await createContact(a.apiKey, person({ customFields: { seats: 1, vip: true } }));
    const res = await api(`/api/contacts/${contact.id}`, {
      key: a.apiKey,
      method: "PUT",
      body: { customFields: { seats: 9 } },
    });
    expect(res.status).toBe(200);
    expect((await res.json<Contact>()).customFields).toEqual({ ...NONE, seats: 9, vip: true });
  });

  it("a value of the wrong type is 400 naming customFields.<name>, and nothing is written at Acme", async () => {
    const contact = await createContact(a.apiKey, person({ customFields: { seats: 1 } }));
    for (const [name, value] of [
      ["nickname", 7],
      ["nickname", "x".repeat(1001)],
      ["seats", "3"],
      ["seats", true],
      ["vip", "true"],
      ["vip", 1],
      ["renewalDate", "2026-02-30"],
      ["renewalDate", "30/09/2026"],
      ["tier", "platinum"],
      ["tier", "Gold"],
    ] as const) {
      for (const [method, body] of [
        ["PATCH", { customFields: { [name]: value } }],
        ["PUT", { ...person({ email: contact.email }), customFields: { [name]: value } }],
      ] as const) {
        const problem = await expectProblem(await write(method, contact.id, body), 400, "validation_failed");
        expect({ method, name, value, fields: errorFields(problem) }).toEqual({
          method,
          name,
          value,
          fields: [`customFields.${name}`],
        });
      }
      const email = uniqueEmail("typed");
      const refused = await api("/api/v1/contacts", {
        key: a.apiKey,
        method: "POST",
        body: person({ email, customFields: { [name]: value } }),
      });
      expect(errorFields(await expectProblem(refused, 400, "validation_failed"))).toEqual([
        `customFields.${name}`,
      ]);
      expect(await contactsWithEmail(a.apiKey, email)).toEqual([]);
    }
    expect(await atAcme(contact.id)).toMatchObject({
      acme_version: contact.version,
      acme_custom: { seats: 1 },
    });
  });

  it("an unmapped name is 400 naming it (an Acme property's own name included), and nothing is written", async () => {
    const contact = await createContact(a.apiKey);
    for (const name of ["shoeSize", "internal_code", "renewal_date", "__proto__"]) {
      const res = await api(`/api/v1/contacts/${contact.id}`, {
        key: a.apiKey,
        method: "PATCH",
        body: `{"customFields": {${JSON.stringify(name)}: "x"}}`,
      });
      expect(errorFields(await expectProblem(res, 400, "validation_failed"))).toEqual([
        `customFields.${name}`,
      ]);
    }
    expect((await atAcme(contact.id)).acme_version).toBe(contact.version);
  });

  it("a value that is not a scalar is 400 naming it", async () => {
    const contact = await createContact(a.apiKey);
    for (const value of [{}, [], [1]]) {
      const res = await write("PATCH", contact.id, { customFields: { nickname: value } });
      expect(errorFields(await expectProblem(res, 400, "validation_failed"))).toEqual([
        "customFields.nickname",
      ]);
    }
  });

  it("a mapped property archived at Acme since: a new value is Acme's 400, named by the API's field", async () => {
    const connection = await newConnection();
    await defineProperties(connection, [{ name: "legacy_id", label: "Legacy id", type: "string" }]);
    await mapFields(connection.apiKey, { legacyId: { remote: "legacy_id" } });
    const contact = await createContact(connection.apiKey, person({ customFields: { legacyId: "L-1" } }));
    await archiveProperty(connection, "legacy_id");
    const refused = await write(
      "PATCH",
      contact.id,
      { customFields: { legacyId: "L-2" } },
      connection.apiKey,
    );
    expect(errorFields(await expectProblem(refused, 400, "validation_failed"))).toEqual([
      "customFields.legacyId",
    ]);
    // The value it holds stays readable, and the round trip still holds.
    const { contact: got } = await read(connection.apiKey, contact.id);
    expect(got.customFields).toEqual({ legacyId: "L-1" });
    expect((await write("PUT", contact.id, got, connection.apiKey)).status).toBe(200);
  });

  it("the Idempotency-Key fingerprint covers customFields; a body refused for them takes no key", async () => {
    const key = `cf-${crypto.randomUUID()}`;
    const body = person({ customFields: { seats: 1, vip: true } });
    const create = (b: unknown) =>
      api("/api/v1/contacts", {
        key: a.apiKey,
        method: "POST",
        body: b,
        headers: { "idempotency-key": key },
      });
    const refusedKey = `cf-${crypto.randomUUID()}`;
    const unmapped = person({ customFields: { shoeSize: 42 } });
    await expectProblem(
      await api("/api/v1/contacts", {
        key: a.apiKey,
        method: "POST",
        body: unmapped,
        headers: { "idempotency-key": refusedKey },
      }),
      400,
      "validation_failed",
    );
    const first = await create(body);
    expect(first.status).toBe(201);
    const replay = await create({ ...body, customFields: { vip: true, seats: 1 } });
    expect(replay.status).toBe(201);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    await expectProblem(
      await create({ ...body, customFields: { seats: 2, vip: true } }),
      422,
      "idempotency_key_reused",
    );
    // The refused body took no key: once the field is mapped, the same request under the same key runs.
    await defineProperties(a, [{ name: "shoe_size", label: "Shoe size", type: "number" }]);
    await mapFields(a.apiKey, { ...EVERY_TYPE_MAPPED, shoeSize: { remote: "shoe_size" } });
    const retried = await api("/api/v1/contacts", {
      key: a.apiKey,
      method: "POST",
      body: unmapped,
      headers: { "idempotency-key": refusedKey },
    });
    expect(retried.status).toBe(201);
    expect((await retried.json<Contact>()).customFields).toMatchObject({ shoeSize: 42 });
    await mapFields(a.apiKey, EVERY_TYPE_MAPPED);
  });
});

describe("a mapping change applies at once, cached copies included, and costs no call to Acme", () => {
  it("a cached contact reads under the new mapping on its next HIT", async () => {
    const connection = await newConnection();
    await defineProperties(connection);
    await mapFields(connection.apiKey, { tier: { remote: "contract_tier" } });
    const contact = await createContact(connection.apiKey, person({ customFields: { tier: "gold" } }));
    await read(connection.apiKey, contact.id);
    expect(await read(connection.apiKey, contact.id)).toMatchObject({
      cache: "HIT",
      contact: { customFields: { tier: "gold" } },
    });
    await mapFields(connection.apiKey, { level: { remote: "contract_tier" }, seats: { remote: "seats" } });
    let after: { cache: string | null; contact: Contact } | undefined;
    expect(
      await acmeCallsDuring(async () => {
        after = await read(connection.apiKey, contact.id);
      }),
    ).toBe(0);
    expect(after).toMatchObject({ cache: "HIT", contact: { customFields: { level: "gold", seats: null } } });
    expect(Object.keys(after?.contact.customFields ?? {}).sort()).toEqual(["level", "seats"]);
  });
});

describe("tenancy: another connection never sees a field it did not map", () => {
  it("a second connection to the same Acme account sees none of the first's fields, cached or not, until it maps its own", async () => {
    const contact = await createContact(a.apiKey, person({ customFields: SOME }));
    await read(a.apiKey, contact.id);
    const b = await connect(a.acmeClient);
    const miss = await read(b.apiKey, contact.id);
    const hit = await read(b.apiKey, contact.id);
    expect(miss.contact.customFields).toEqual({});
    expect(hit).toMatchObject({ cache: "HIT", contact: { customFields: {} } });
    const [listed] = await contactsWithEmail(b.apiKey, contact.email);
    expect(listed?.customFields).toEqual({});
    await mapFields(b.apiKey, { plan: { remote: "contract_tier" } });
    expect((await read(b.apiKey, contact.id)).contact.customFields).toEqual({ plan: "gold" });
    expect((await read(a.apiKey, contact.id)).contact.customFields).toEqual(SOME);
    const refused = await write("PATCH", contact.id, { customFields: { tier: "silver" } }, b.apiKey);
    expect(errorFields(await expectProblem(refused, 400, "validation_failed"))).toEqual([
      "customFields.tier",
    ]);
  });
});
