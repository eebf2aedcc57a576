import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AcmeContact } from "../../src/acme/contacts/schemas.ts";
import {
  MAX_CUSTOM_BYTES,
  MAX_ENUMERATION_OPTIONS,
  MAX_LABEL_LENGTH,
  MAX_OPTION_LENGTH,
  MAX_PROPERTIES_PER_ACCOUNT,
  MAX_STRING_VALUE_LENGTH,
} from "../../src/acme/properties/limits.ts";
import type { AcmeProperty } from "../../src/acme/properties/schemas.ts";
import {
  acme,
  acmeContacts,
  createContact,
  detailFields,
  expectAcmeError,
  signedIn,
  uniqueEmail,
} from "./helpers.ts";

/** One property of each type, as most tests here define them. */
const EVERY_TYPE = [
  { name: "nickname", label: "Nickname", type: "string" },
  { name: "seats", label: "Seats", type: "number" },
  { name: "vip", label: "VIP", type: "boolean" },
  { name: "renewal_date", label: "Renewal date", type: "date" },
  { name: "tier", label: "Tier", type: "enumeration", options: ["bronze", "silver", "gold"] },
] as const;

async function defineProperty(token: string, body: Record<string, unknown>): Promise<AcmeProperty> {
  const res = await acme("/v1/properties", { token, method: "POST", body });
  if (res.status !== 201) throw new Error(`property creation failed: ${res.status} ${await res.text()}`);
  return res.json<AcmeProperty>();
}

async function archive(token: string, name: string): Promise<Response> {
  return acme(`/v1/properties/${name}`, { token, method: "DELETE" });
}

async function listProperties(token: string): Promise<AcmeProperty[]> {
  const res = await acme("/v1/properties", { token });
  expect(res.status).toBe(200);
  return (await res.json<{ results: AcmeProperty[] }>()).results;
}

/** A fresh account with {@link EVERY_TYPE} defined. */
async function accountWithProperties() {
  const account = await signedIn();
  for (const property of EVERY_TYPE) await defineProperty(account.token, property);
  return account;
}

async function readContact(token: string, id: string, query = ""): Promise<AcmeContact> {
  const res = await acme(`/v1/contacts/${id}${query}`, { token });
  expect(res.status).toBe(200);
  return res.json<AcmeContact>();
}

function write(token: string, method: "PUT" | "PATCH", id: string, body: unknown, headers = {}) {
  return acme(`/v1/contacts/${id}`, { token, method, body, headers });
}

/** The outbox payloads of a contact's events, oldest first. */
async function eventPayloads(contactId: string) {
  const rows = await env.ACME_DB.prepare(
    "SELECT payload FROM webhook_events WHERE contact_id = ? ORDER BY id",
  )
    .bind(contactId)
    .all<{ payload: string }>();
  return rows.results.map(
    (row) =>
      JSON.parse(row.payload) as { type: string; data: AcmeContact; previous?: AcmeContact | undefined },
  );
}

const utf8Bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

describe("GET /acme/v1/properties", () => {
  it("lists nothing for a new account", async () => {
    const { token } = await signedIn();
    const res = await acme("/v1/properties", { token });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ results: [] });
  });

  it("lists every property by name, archived ones flagged, options only on an enumeration", async () => {
    const { token } = await accountWithProperties();
    expect((await archive(token, "seats")).status).toBe(204);
    expect(await listProperties(token)).toEqual([
      { name: "nickname", label: "Nickname", type: "string", archived: false },
      { name: "renewal_date", label: "Renewal date", type: "date", archived: false },
      { name: "seats", label: "Seats", type: "number", archived: true },
      {
        name: "tier",
        label: "Tier",
        type: "enumeration",
        options: ["bronze", "silver", "gold"],
        archived: false,
      },
      { name: "vip", label: "VIP", type: "boolean", archived: false },
    ]);
  });

  it("needs the contacts.read scope, and refuses an unknown query parameter", async () => {
    const { token } = await signedIn({ scopes: ["webhooks.manage"] });
    await expectAcmeError(await acme("/v1/properties", { token }), 403, "insufficient_scope");
    const reader = await signedIn({ scopes: ["contacts.read"] });
    expect((await acme("/v1/properties", { token: reader.token })).status).toBe(200);
    const res = await acme("/v1/properties?archived=false", { token: reader.token });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual(["archived"]);
  });
});

describe("POST /acme/v1/properties", () => {
  it.each(EVERY_TYPE)("creates a $type property: 201 with the property, live", async (property) => {
    const { token } = await signedIn();
    const res = await acme("/v1/properties", { token, method: "POST", body: property });
    expect(res.status).toBe(201);
    expect(await res.json()).toEqual({ ...property, archived: false });
    expect(await listProperties(token)).toEqual([{ ...property, archived: false }]);
  });

  it("needs the contacts.write scope", async () => {
    const { token } = await signedIn({ scopes: ["contacts.read"] });
    const res = await acme("/v1/properties", { token, method: "POST", body: EVERY_TYPE[0] });
    await expectAcmeError(res, 403, "insufficient_scope");
  });

  it("refuses a name the account already has, live or archived: 409 duplicate_property naming name", async () => {
    const { token } = await signedIn();
    await defineProperty(token, { name: "tier", label: "Tier", type: "string" });
    const again = await acme("/v1/properties", {
      token,
      method: "POST",
      body: { name: "tier", label: "Other", type: "number" },
    });
    expect(detailFields(await expectAcmeError(again, 409, "duplicate_property"))).toEqual(["name"]);
    await archive(token, "tier");
    const afterArchive = await acme("/v1/properties", {
      token,
      method: "POST",
      body: { name: "tier", label: "Tier", type: "string" },
    });
    await expectAcmeError(afterArchive, 409, "duplicate_property");
    expect(await listProperties(token)).toEqual([
      { name: "tier", label: "Tier", type: "string", archived: true },
    ]);
  });

  const longest = `a${"b".repeat(62)}`;
  it.each([
    ["Tier", "name"],
    ["1tier", "name"],
    ["_tier", "name"],
    ["tier-size", "name"],
    ["tier size", "name"],
    ["tïer", "name"],
    ["", "name"],
    [`${longest}c`, "name"],
  ])("refuses the name %j: 400 naming %s", async (name, field) => {
    const { token } = await signedIn();
    const res = await acme("/v1/properties", {
      token,
      method: "POST",
      body: { name, label: "X", type: "string" },
    });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual([field]);
    expect(await listProperties(token)).toEqual([]);
  });

  it("takes a name of 63 characters, and one with digits and underscores", async () => {
    const { token } = await signedIn();
    await defineProperty(token, { name: longest, label: "Long", type: "string" });
    await defineProperty(token, { name: "q3_2026_target", label: "Target", type: "number" });
    expect((await listProperties(token)).map((p) => p.name)).toEqual([longest, "q3_2026_target"]);
  });

  it.each([
    // The type decides what else the body needs: without it, only the type is named.
    [{ name: "x" }, ["type"]],
    [{ name: "x", type: "string" }, ["label"]],
    [{ label: "X", type: "date" }, ["name"]],
    [{ name: "x", label: "", type: "string" }, ["label"]],
    [{ name: "x", label: "L".repeat(MAX_LABEL_LENGTH + 1), type: "string" }, ["label"]],
    [{ name: "x", label: "X", type: "text" }, ["type"]],
    [{ name: "x", label: "X", type: "enumeration" }, ["options"]],
    [{ name: "x", label: "X", type: "enumeration", options: [] }, ["options"]],
    [{ name: "x", label: "X", type: "enumeration", options: ["a", "b", "a"] }, ["options.2"]],
    [{ name: "x", label: "X", type: "enumeration", options: ["a", ""] }, ["options.1"]],
    [
      { name: "x", label: "X", type: "enumeration", options: ["o".repeat(MAX_OPTION_LENGTH + 1)] },
      ["options.0"],
    ],
    [{ name: "x", label: "X", type: "enumeration", options: [1, true] }, ["options.0", "options.1"]],
    [
      {
        name: "x",
        label: "X",
        type: "enumeration",
        options: Array.from({ length: MAX_ENUMERATION_OPTIONS + 1 }, (_, i) => `o${i}`),
      },
      ["options"],
    ],
    [{ name: "x", label: "X", type: "string", options: ["a"] }, ["options"]],
    [{ name: "x", label: "X", type: "string", archived: true }, ["archived"]],
  ])("refuses %j: 400 naming %j", async (body, fields) => {
    const { token } = await signedIn();
    const res = await acme("/v1/properties", { token, method: "POST", body });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual(fields);
    expect(await listProperties(token)).toEqual([]);
  });

  it(`takes an enumeration of ${MAX_ENUMERATION_OPTIONS} options of ${MAX_OPTION_LENGTH} characters, and a label of ${MAX_LABEL_LENGTH}`, async () => {
    const { token } = await signedIn();
    const options = Array.from({ length: MAX_ENUMERATION_OPTIONS }, (_, i) =>
      `${i}`.padStart(3, "0").padEnd(MAX_OPTION_LENGTH, "é"),
    );
    const label = "L".repeat(MAX_LABEL_LENGTH);
    const created = await defineProperty(token, { name: "big", label, type: "enumeration", options });
    expect(created).toEqual({ name: "big", label, type: "enumeration", options, archived: false });
  });

  it(`allows ${MAX_PROPERTIES_PER_ACCOUNT} properties per account, archived ones counted, all listed; the next is 409 property_limit_reached`, async () => {
    const { token } = await signedIn();
    const names = Array.from(
      { length: MAX_PROPERTIES_PER_ACCOUNT },
      (_, i) => `p${String(i).padStart(3, "0")}`,
    );
    await Promise.all(names.map((name) => defineProperty(token, { name, label: name, type: "string" })));
    for (const name of names.slice(0, 10)) expect((await archive(token, name)).status).toBe(204);
    const listed = await listProperties(token);
    expect(listed.map((p) => p.name)).toEqual(names);
    expect(listed.filter((p) => p.archived)).toHaveLength(10);

    const more = await acme("/v1/properties", {
      token,
      method: "POST",
      body: { name: "one_more", label: "X", type: "string" },
    });
    const body = await expectAcmeError(more, 409, "property_limit_reached");
    expect(detailFields(body)).toEqual(["name"]);
    expect(body.error.message).toContain(String(MAX_PROPERTIES_PER_ACCOUNT));
    // A name it has is still a duplicate, the clearer answer.
    const duplicate = await acme("/v1/properties", {
      token,
      method: "POST",
      body: { name: "p000", label: "X", type: "string" },
    });
    await expectAcmeError(duplicate, 409, "duplicate_property");
    expect(await listProperties(token)).toHaveLength(MAX_PROPERTIES_PER_ACCOUNT);
  });

  it("never passes the limit under concurrent creates", async () => {
    const { token } = await signedIn();
    const first = MAX_PROPERTIES_PER_ACCOUNT - 3;
    for (let i = 0; i < first; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, first - i) }, (_, j) =>
          defineProperty(token, { name: `p${i + j}`, label: "P", type: "boolean" }),
        ),
      );
    }
    const racing = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        acme("/v1/properties", {
          token,
          method: "POST",
          body: { name: `racer${i}`, label: "R", type: "string" },
        }),
      ),
    );
    const statuses = racing.map((res) => res.status).sort();
    expect(statuses).toEqual([201, 201, 201, 409, 409, 409, 409, 409, 409, 409]);
    expect(await listProperties(token)).toHaveLength(MAX_PROPERTIES_PER_ACCOUNT);
  });
});

describe("DELETE /acme/v1/properties/{name}", () => {
  it("archives the property: 204, listed as archived; archiving again is 204 too", async () => {
    const { token } = await accountWithProperties();
    const res = await archive(token, "tier");
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect((await archive(token, "tier")).status).toBe(204);
    const tier = (await listProperties(token)).find((p) => p.name === "tier");
    expect(tier).toEqual({ ...EVERY_TYPE[4], archived: true });
  });

  it("is 404 not_found for a name the account has not defined, and 400 naming name for one no property can have", async () => {
    const { token } = await signedIn();
    await expectAcmeError(await archive(token, "nothing_here"), 404, "not_found");
    const bad = await archive(token, "Not-A-Name");
    expect(detailFields(await expectAcmeError(bad, 400, "validation_failed"))).toEqual(["name"]);
  });

  it("needs the contacts.write scope", async () => {
    const owner = await accountWithProperties();
    const { token } = await signedIn({ scopes: ["contacts.read"] });
    await expectAcmeError(await archive(token, "tier"), 403, "insufficient_scope");
    expect((await listProperties(owner.token)).every((p) => !p.archived)).toBe(true);
  });
});

describe("acme_custom on contacts", () => {
  it("is {} on a contact without custom values: created, read, listed", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, { acme_email: uniqueEmail() });
    expect(created.acme_custom).toEqual({});
    expect((await readContact(token, created.id)).acme_custom).toEqual({});
    expect((await acmeContacts(token)).map((c) => c.acme_custom)).toEqual([{}]);
  });

  it("takes a value of every type on create, and returns it on read and in the list", async () => {
    const { token } = await accountWithProperties();
    const values = { nickname: "Ada 🚀", seats: 12.5, vip: false, renewal_date: "2024-02-29", tier: "gold" };
    const created = await createContact(token, { acme_email: uniqueEmail(), acme_custom: values });
    expect(created.acme_custom).toEqual(values);
    expect((await readContact(token, created.id)).acme_custom).toEqual(values);
    expect((await acmeContacts(token))[0]?.acme_custom).toEqual(values);
  });

  it("takes a value of every kind a JSON number can be: negative, zero, fractional, exponent", async () => {
    const { token } = await accountWithProperties();
    for (const seats of [-3, 0, 0.1, 1e21, -2.5e-8, Number.MAX_SAFE_INTEGER]) {
      const created = await createContact(token, { acme_email: uniqueEmail(), acme_custom: { seats } });
      expect(created.acme_custom).toEqual({ seats });
    }
  });

  it(`takes a string of ${MAX_STRING_VALUE_LENGTH} characters and an empty one`, async () => {
    const { token } = await accountWithProperties();
    const nickname = "n".repeat(MAX_STRING_VALUE_LENGTH);
    expect(
      (await createContact(token, { acme_email: uniqueEmail(), acme_custom: { nickname } })).acme_custom,
    ).toEqual({
      nickname,
    });
    expect(
      (await createContact(token, { acme_email: uniqueEmail(), acme_custom: { nickname: "" } })).acme_custom,
    ).toEqual({ nickname: "" });
  });

  it.each([
    ["nickname", 5],
    ["nickname", true],
    ["nickname", "n".repeat(MAX_STRING_VALUE_LENGTH + 1)],
    ["seats", "1"],
    ["seats", true],
    ["vip", "true"],
    ["vip", 1],
    ["vip", "yes"],
    ["renewal_date", "2026-02-30"],
    ["renewal_date", "2025-02-29"],
    ["renewal_date", "2026-13-01"],
    ["renewal_date", "2026-2-3"],
    ["renewal_date", "2026-02-03T00:00:00Z"],
    ["renewal_date", "03/02/2026"],
    ["renewal_date", 20260203],
    ["tier", "platinum"],
    ["tier", "Gold"],
    ["tier", " gold"],
    ["tier", 1],
    ["tier", ["gold"]],
    ["seats", { value: 1 }],
  ])("refuses %s = %j: 400 naming acme_custom.%s, nothing created", async (name, value) => {
    const { token } = await accountWithProperties();
    const res = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: { acme_email: uniqueEmail(), acme_custom: { [name]: value } },
    });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual([
      `acme_custom.${name}`,
    ]);
    expect(await acmeContacts(token)).toEqual([]);
  });

  it("refuses a number JSON can spell but a double cannot hold (1e400): 400 naming it", async () => {
    const { token } = await accountWithProperties();
    const res = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: `{"acme_email": "${uniqueEmail()}", "acme_custom": {"seats": 1e400}}`,
    });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual(["acme_custom.seats"]);
  });

  it("refuses a name the account has not defined, with a value or null, and __proto__: 400 naming each", async () => {
    const { token } = await accountWithProperties();
    for (const [name, value] of [
      ["shoe_size", 42],
      ["shoe_size", null],
      ["Tier", "gold"],
      ["constructor", "x"],
      ["__proto__", "x"],
    ] as const) {
      const res = await acme("/v1/contacts", {
        token,
        method: "POST",
        body: `{"acme_email": "${uniqueEmail()}", "acme_custom": {${JSON.stringify(name)}: ${JSON.stringify(value)}}}`,
      });
      const body = await expectAcmeError(res, 400, "validation_failed");
      expect(body.error.details).toEqual([
        { field: `acme_custom.${name}`, message: "no such property in this account" },
      ]);
    }
    expect(await acmeContacts(token)).toEqual([]);
  });

  it("names every offending property of one write", async () => {
    const { token } = await accountWithProperties();
    const res = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: { acme_email: uniqueEmail(), acme_custom: { vip: "true", seats: "1", unknown: 1, tier: "gold" } },
    });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual([
      "acme_custom.seats",
      "acme_custom.unknown",
      "acme_custom.vip",
    ]);
  });

  it("refuses acme_custom that is not an object: 400 naming acme_custom", async () => {
    const { token } = await accountWithProperties();
    for (const acme_custom of [null, [], "tier=gold", 1]) {
      const res = await acme("/v1/contacts", {
        token,
        method: "POST",
        body: { acme_email: uniqueEmail(), acme_custom },
      });
      expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual(["acme_custom"]);
    }
  });

  it("null on create sets nothing", async () => {
    const { token } = await accountWithProperties();
    const created = await createContact(token, {
      acme_email: uniqueEmail(),
      acme_custom: { tier: null, vip: true },
    });
    expect(created.acme_custom).toEqual({ vip: true });
  });

  describe("PATCH merges per property", () => {
    it("keeps the properties it does not name, sets those it names, and null clears one", async () => {
      const { token } = await accountWithProperties();
      const made = await createContact(token, {
        acme_email: uniqueEmail(),
        acme_custom: { tier: "bronze", seats: 3, nickname: "Ada" },
      });
      const res = await write(token, "PATCH", made.id, {
        acme_custom: { tier: "gold", vip: true, nickname: null },
      });
      expect(res.status).toBe(200);
      expect(res.headers.get("etag")).toBe('"2"');
      const patched = await res.json<AcmeContact>();
      expect(patched.acme_custom).toEqual({ seats: 3, tier: "gold", vip: true });
      expect(await readContact(token, made.id)).toEqual(patched);
    });

    it("leaves acme_custom as it is when the patch does not name it, or names it empty", async () => {
      const { token } = await accountWithProperties();
      const made = await createContact(token, { acme_email: uniqueEmail(), acme_custom: { tier: "silver" } });
      const titled = await (
        await write(token, "PATCH", made.id, { acme_title: "Countess" })
      ).json<AcmeContact>();
      expect(titled).toMatchObject({
        acme_title: "Countess",
        acme_custom: { tier: "silver" },
        acme_version: 2,
      });
      const empty = await (await write(token, "PATCH", made.id, { acme_custom: {} })).json<AcmeContact>();
      expect(empty).toMatchObject({ acme_custom: { tier: "silver" }, acme_version: 2 });
    });

    it("is a no-op when it sets what the contact already holds: same version, no event", async () => {
      const { token } = await accountWithProperties();
      const made = await createContact(token, {
        acme_email: uniqueEmail(),
        acme_custom: { tier: "silver", vip: false },
      });
      const res = await write(token, "PATCH", made.id, {
        acme_custom: { vip: false, tier: "silver", seats: null },
      });
      expect(await res.json()).toEqual(made);
      expect(await eventPayloads(made.id)).toHaveLength(1);
    });

    it("refuses a wrong value with 400 naming it, and changes nothing (the valid ones neither)", async () => {
      const { token } = await accountWithProperties();
      const made = await createContact(token, { acme_email: uniqueEmail(), acme_custom: { tier: "silver" } });
      const res = await write(token, "PATCH", made.id, {
        acme_title: "Countess",
        acme_custom: { tier: "gold", renewal_date: "2026-02-30" },
      });
      expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual([
        "acme_custom.renewal_date",
      ]);
      expect(await readContact(token, made.id)).toEqual(made);
    });

    it("honours If-Match: a stale version is 412 and nothing changes, the current one applies", async () => {
      const { token } = await accountWithProperties();
      const made = await createContact(token, { acme_email: uniqueEmail(), acme_custom: { seats: 1 } });
      await write(token, "PATCH", made.id, { acme_custom: { seats: 2 } });
      const stale = await write(
        token,
        "PATCH",
        made.id,
        { acme_custom: { seats: 3 } },
        { "if-match": '"1"' },
      );
      await expectAcmeError(stale, 412, "version_mismatch");
      expect((await readContact(token, made.id)).acme_custom).toEqual({ seats: 2 });
      const current = await write(
        token,
        "PATCH",
        made.id,
        { acme_custom: { seats: 3 } },
        { "if-match": '"2"' },
      );
      expect(current.status).toBe(200);
      expect(await current.json()).toMatchObject({ acme_custom: { seats: 3 }, acme_version: 3 });
    });

    it("takes merge-patch JSON as well", async () => {
      const { token } = await accountWithProperties();
      const made = await createContact(token, { acme_email: uniqueEmail(), acme_custom: { seats: 1 } });
      const res = await write(
        token,
        "PATCH",
        made.id,
        { acme_custom: { vip: true } },
        { "content-type": "application/merge-patch+json" },
      );
      expect(await res.json()).toMatchObject({ acme_custom: { seats: 1, vip: true } });
    });
  });

  describe("PUT replaces acme_custom", () => {
    it("sets exactly what it sends; `{}` clears every value; omitted, the values stay", async () => {
      const { token } = await accountWithProperties();
      const made = await createContact(token, {
        acme_email: uniqueEmail(),
        acme_custom: { tier: "gold", seats: 5 },
      });
      const replaced = await write(token, "PUT", made.id, {
        acme_email: made.acme_email,
        acme_custom: { vip: true },
      });
      expect(replaced.status).toBe(200);
      expect(await replaced.json()).toMatchObject({ acme_custom: { vip: true }, acme_version: 2 });
      // A client that knows no custom properties (the standard fields only) keeps them.
      const kept = await write(token, "PUT", made.id, { acme_email: made.acme_email, acme_title: "CTO" });
      expect(await kept.json()).toMatchObject({
        acme_custom: { vip: true },
        acme_title: "CTO",
        acme_version: 3,
      });
      const cleared = await write(token, "PUT", made.id, { acme_email: made.acme_email, acme_custom: {} });
      expect(await cleared.json()).toMatchObject({ acme_custom: {}, acme_version: 4 });
    });

    it("honours If-Match: a stale version is 412 and the values stay", async () => {
      const { token } = await accountWithProperties();
      const made = await createContact(token, { acme_email: uniqueEmail(), acme_custom: { tier: "gold" } });
      await write(token, "PATCH", made.id, { acme_title: "x" });
      const stale = await write(
        token,
        "PUT",
        made.id,
        { acme_email: made.acme_email },
        { "if-match": '"1"' },
      );
      await expectAcmeError(stale, 412, "version_mismatch");
      expect((await readContact(token, made.id)).acme_custom).toEqual({ tier: "gold" });
      const current = await write(
        token,
        "PUT",
        made.id,
        { acme_email: made.acme_email, acme_custom: {} },
        { "if-match": '"2"' },
      );
      expect(await current.json()).toMatchObject({ acme_custom: {}, acme_version: 3 });
    });

    it("checks the values it sends as a create does, and a refused PUT changes nothing", async () => {
      const { token } = await accountWithProperties();
      const made = await createContact(token, { acme_email: uniqueEmail(), acme_custom: { tier: "gold" } });
      const res = await write(token, "PUT", made.id, {
        acme_email: made.acme_email,
        acme_custom: { tier: "silver", vip: "false" },
      });
      expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual(["acme_custom.vip"]);
      expect(await readContact(token, made.id)).toEqual(made);
    });

    it("takes back what a GET returned, custom values included, as a no-op", async () => {
      const { token } = await accountWithProperties();
      const values = { nickname: "Ada", seats: 7, vip: true, renewal_date: "2026-09-30", tier: "silver" };
      const made = await createContact(token, { acme_email: uniqueEmail(), acme_custom: values });
      const body = await readContact(token, made.id);
      const res = await write(token, "PUT", made.id, body);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual(body);
      expect(await eventPayloads(made.id)).toHaveLength(1);
    });
  });

  describe("an archived property", () => {
    /** A contact holding a value of every type, then `tier` and `seats` archived. */
    async function contactWithArchivedValues() {
      const { token } = await accountWithProperties();
      const made = await createContact(token, {
        acme_email: uniqueEmail(),
        acme_custom: { tier: "gold", seats: 4, vip: true },
      });
      await archive(token, "tier");
      await archive(token, "seats");
      return { token, made };
    }

    it("keeps the values contacts hold readable: on read, in the list, after other changes", async () => {
      const { token, made } = await contactWithArchivedValues();
      expect((await readContact(token, made.id)).acme_custom).toEqual({ seats: 4, tier: "gold", vip: true });
      const patched = await write(token, "PATCH", made.id, { acme_custom: { vip: false } });
      expect(await patched.json()).toMatchObject({ acme_custom: { seats: 4, tier: "gold", vip: false } });
      expect((await acmeContacts(token))[0]?.acme_custom).toEqual({ seats: 4, tier: "gold", vip: false });
    });

    it("takes no new value, no change and no clearing: 400 naming it, nothing changed", async () => {
      const { token, made } = await contactWithArchivedValues();
      for (const acme_custom of [{ tier: "silver" }, { tier: null }, { seats: 5, vip: false }]) {
        const res = await write(token, "PATCH", made.id, { acme_custom });
        const body = await expectAcmeError(res, 400, "validation_failed");
        expect(body.error.details?.[0]).toEqual({
          field: `acme_custom.${Object.keys(acme_custom)[0]}`,
          message: "the property is archived: its value can be read but not changed",
        });
      }
      const other = await createContact(token, { acme_email: uniqueEmail() });
      const onCreate = await acme("/v1/contacts", {
        token,
        method: "POST",
        body: { acme_email: uniqueEmail(), acme_custom: { tier: "gold" } },
      });
      expect(detailFields(await expectAcmeError(onCreate, 400, "validation_failed"))).toEqual([
        "acme_custom.tier",
      ]);
      const onPut = await write(token, "PUT", other.id, {
        acme_email: other.acme_email,
        acme_custom: { seats: 1 },
      });
      expect(detailFields(await expectAcmeError(onPut, 400, "validation_failed"))).toEqual([
        "acme_custom.seats",
      ]);
      expect((await readContact(token, made.id)).acme_version).toBe(1);
    });

    it("is kept by a PUT that leaves it out, and accepted back unchanged (the round-trip law)", async () => {
      const { token, made } = await contactWithArchivedValues();
      const body = await readContact(token, made.id);
      const same = await write(token, "PUT", made.id, body);
      expect(await same.json()).toEqual(body);
      const without = await write(token, "PUT", made.id, {
        acme_email: made.acme_email,
        acme_custom: { vip: false },
      });
      expect(await without.json()).toMatchObject({
        acme_custom: { seats: 4, tier: "gold", vip: false },
        acme_version: 2,
      });
      // Omitted, every value stays (a no-op here); `{}` clears the live ones, the archived stay.
      const omitted = await write(token, "PUT", made.id, { acme_email: made.acme_email });
      expect(await omitted.json()).toMatchObject({
        acme_custom: { seats: 4, tier: "gold", vip: false },
        acme_version: 2,
      });
      const emptied = await write(token, "PUT", made.id, { acme_email: made.acme_email, acme_custom: {} });
      expect(await emptied.json()).toMatchObject({
        acme_custom: { seats: 4, tier: "gold" },
        acme_version: 3,
      });
    });

    it("accepts null where the contact holds no value (nothing to change)", async () => {
      const { token } = await accountWithProperties();
      await archive(token, "tier");
      const made = await createContact(token, { acme_email: uniqueEmail(), acme_custom: { tier: null } });
      expect(made.acme_custom).toEqual({});
    });
  });

  describe(`size: at most ${MAX_CUSTOM_BYTES} bytes of JSON per contact`, () => {
    /** An account with `count` string properties s00, s01, ... */
    async function accountWithStrings(count: number) {
      const { token } = await signedIn();
      const names = Array.from({ length: count }, (_, i) => `s${String(i).padStart(2, "0")}`);
      await Promise.all(names.map((name) => defineProperty(token, { name, label: name, type: "string" })));
      return { token, names };
    }

    /** Values for `names` whose JSON is exactly `bytes` long, in two-byte characters where they fit. */
    function valuesOfSize(names: string[], bytes: number): Record<string, string> {
      const values: Record<string, string> = Object.fromEntries(names.map((n) => [n, ""]));
      let left = bytes - utf8Bytes(values);
      for (const name of names) {
        const take = Math.min(left, MAX_STRING_VALUE_LENGTH * 2);
        values[name] = "é".repeat(Math.floor(take / 2)) + "e".repeat(take % 2);
        left -= take;
      }
      expect(utf8Bytes(values)).toBe(bytes);
      return values;
    }

    it("takes a contact at the limit and refuses one byte more: 400 naming acme_custom, nothing created", async () => {
      const { token, names } = await accountWithStrings(10);
      const atLimit = valuesOfSize(names, MAX_CUSTOM_BYTES);
      const made = await createContact(token, { acme_email: uniqueEmail(), acme_custom: atLimit });
      expect(made.acme_custom).toEqual(atLimit);
      const over = await acme("/v1/contacts", {
        token,
        method: "POST",
        body: { acme_email: uniqueEmail(), acme_custom: valuesOfSize(names, MAX_CUSTOM_BYTES + 1) },
      });
      const body = await expectAcmeError(over, 400, "validation_failed");
      expect(detailFields(body)).toEqual(["acme_custom"]);
      expect(body.error.details?.[0]?.message).toContain(String(MAX_CUSTOM_BYTES));
      expect(await acmeContacts(token)).toHaveLength(1);
    });

    it("counts what the contact holds after a PATCH merge, and refuses the merge that passes it", async () => {
      const { token, names } = await accountWithStrings(10);
      const half = valuesOfSize(names.slice(0, 5), MAX_CUSTOM_BYTES / 2);
      const made = await createContact(token, { acme_email: uniqueEmail(), acme_custom: half });
      const rest = valuesOfSize(names.slice(5), MAX_CUSTOM_BYTES / 2 + 10);
      const res = await write(token, "PATCH", made.id, { acme_custom: rest });
      expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual(["acme_custom"]);
      expect(await readContact(token, made.id)).toEqual(made);
    });
  });

  it("keeps each account's properties to itself: never listed, usable or archived by another", async () => {
    const a = await accountWithProperties();
    const b = await signedIn();
    expect(await listProperties(b.token)).toEqual([]);
    const refused = await acme("/v1/contacts", {
      token: b.token,
      method: "POST",
      body: { acme_email: uniqueEmail(), acme_custom: { tier: "gold" } },
    });
    expect(detailFields(await expectAcmeError(refused, 400, "validation_failed"))).toEqual([
      "acme_custom.tier",
    ]);
    await expectAcmeError(await archive(b.token, "tier"), 404, "not_found");
    // The same name means another property in another account, of its own type.
    await defineProperty(b.token, { name: "tier", label: "Support tier", type: "number" });
    const bContact = await createContact(b.token, { acme_email: uniqueEmail(), acme_custom: { tier: 2 } });
    expect(bContact.acme_custom).toEqual({ tier: 2 });
    expect((await archive(b.token, "tier")).status).toBe(204);
    expect((await listProperties(a.token)).find((p) => p.name === "tier")?.archived).toBe(false);
    const aContact = await createContact(a.token, {
      acme_email: uniqueEmail(),
      acme_custom: { tier: "gold" },
    });
    expect(aContact.acme_custom).toEqual({ tier: "gold" });
  });

  it("lists a contact whose custom values changed under updated_since, and pages with them", async () => {
    const { token } = await accountWithProperties();
    const contacts = [];
    for (let i = 0; i < 5; i += 1) {
      contacts.push(await createContact(token, { acme_email: uniqueEmail(), acme_custom: { seats: i } }));
    }
    const since = new Date(Date.now() + 5).toISOString();
    await new Promise((resolve) => setTimeout(resolve, 10));
    const target = contacts[2] as AcmeContact;
    await write(token, "PATCH", target.id, { acme_custom: { seats: 99 } });
    const res = await acme(`/v1/contacts?updated_since=${encodeURIComponent(since)}`, { token });
    const changed = (await res.json<{ results: AcmeContact[] }>()).results;
    expect(changed.map((c) => [c.id, c.acme_custom])).toEqual([[target.id, { seats: 99 }]]);

    const seen: AcmeContact[] = [];
    let after: string | undefined;
    do {
      const page = await acme(`/v1/contacts?limit=2${after ? `&after=${after}` : ""}`, { token });
      const body = await page.json<{ results: AcmeContact[]; paging?: { next: { after: string } } }>();
      seen.push(...body.results);
      after = body.paging?.next.after;
    } while (after);
    expect(seen.map((c) => c.acme_custom)).toEqual([
      { seats: 0 },
      { seats: 1 },
      { seats: 99 },
      { seats: 3 },
      { seats: 4 },
    ]);
  });

  it("keeps the values of a deleted contact readable with include_deleted", async () => {
    const { token } = await accountWithProperties();
    const made = await createContact(token, { acme_email: uniqueEmail(), acme_custom: { tier: "gold" } });
    expect((await acme(`/v1/contacts/${made.id}`, { token, method: "DELETE" })).status).toBe(204);
    expect((await readContact(token, made.id, "?include_deleted=true")).acme_custom).toEqual({
      tier: "gold",
    });
  });

  it("puts acme_custom in the webhook's data and previous on create, update and delete", async () => {
    const { token } = await accountWithProperties();
    const made = await createContact(token, {
      acme_email: uniqueEmail(),
      acme_custom: { tier: "bronze", seats: 1 },
    });
    await write(token, "PATCH", made.id, { acme_custom: { tier: "gold", seats: null } });
    await acme(`/v1/contacts/${made.id}`, { token, method: "DELETE" });
    const [created, updated, deleted] = await eventPayloads(made.id);
    expect(created?.type).toBe("contact.created");
    expect(created?.data.acme_custom).toEqual({ seats: 1, tier: "bronze" });
    expect(created?.previous).toBeUndefined();
    expect(updated?.type).toBe("contact.updated");
    expect(updated?.data.acme_custom).toEqual({ tier: "gold" });
    expect(updated?.previous?.acme_custom).toEqual({ seats: 1, tier: "bronze" });
    expect(deleted?.type).toBe("contact.deleted");
    expect(deleted?.data.acme_custom).toEqual({ tier: "gold" });
    expect(deleted?.previous?.acme_custom).toEqual({ tier: "gold" });
    // The payload is the contact exactly as the API returns it.
    expect(deleted?.data).toEqual(await readContact(token, made.id, "?include_deleted=true"));
  });
});
