import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  acmeFieldToApi,
  apiFieldToAcme,
  CONTACT_FIELDS,
  fromAcme,
  mapToAcme,
} from "../../src/integration/contacts/mapping.ts";
import { ContactCreateSchema } from "../../src/integration/contacts/schemas.ts";
import { ACME_CONTACT, api, type Contact, newConnection } from "./helpers.ts";

const WRITABLE = ["firstName", "lastName", "email", "phone", "company", "title", "notes"] as const;

/** Unicode text of at most `max` UTF-16 units (the unit the limits count), graphemes of any script. */
const text = (minLength: number, max: number) =>
  fc
    .string({ unit: "grapheme", minLength, maxLength: Math.min(max, 40) })
    .filter((s) => s.length >= minLength && s.length <= max);

const optional = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof(arb, fc.constant(null), fc.constant(undefined), fc.constant("" as T));

let serial = 0;
/** Emails vary in shape, stay valid for the API and are unique per run. */
const email = fc
  .tuple(
    fc.stringMatching(/^[a-z0-9]([a-z0-9._+-]{0,20}[a-z0-9])?$/),
    fc.constantFrom("example.com", "ex-ample.co.uk", "EXAMPLE.org"),
  )
  .filter(([local]) => !local.includes(".."))
  .map(([local, domain]) => `${local}.${++serial}${crypto.randomUUID().slice(0, 6)}@${domain}`);

const contactInput = fc.record(
  {
    firstName: text(1, 100),
    lastName: text(1, 100),
    email,
    phone: optional(fc.stringMatching(/^[0-9+()\-. /x]{0,40}$/)),
    company: optional(text(0, 200)),
    title: optional(text(0, 200)),
    notes: optional(fc.string({ unit: "grapheme", maxLength: 300 }).filter((s) => s.length <= 10_000)),
  },
  { requiredKeys: ["firstName", "lastName", "email"] },
);

type Input = Record<(typeof WRITABLE)[number], string | null | undefined>;

/** What the API must return for `input`: every field as sent, absent and null both as null. */
function expected(input: Partial<Input>) {
  return Object.fromEntries(WRITABLE.map((f) => [f, input[f] ?? null]));
}

function pick(contact: Contact) {
  return Object.fromEntries(WRITABLE.map((f) => [f, contact[f]]));
}

describe("contacts round-trip through Acme unchanged", () => {
  let key: string;

  beforeAll(async () => {
    ({ apiKey: key } = await newConnection());
  });

  it("every generated input is valid for the API (the generator does not cheat)", () => {
    fc.assert(
      fc.property(contactInput, (input) => {
        expect(ContactCreateSchema.safeParse(input).success).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("create then GET returns every field as sent; PUT another then GET returns that one", async () => {
    await fc.assert(
      fc.asyncProperty(contactInput, contactInput, async (first, second) => {
        const created = await api("/api/v1/contacts", { key, method: "POST", body: first });
        expect(created.status).toBe(201);
        const contact = await created.json<Contact>();
        expect(pick(contact)).toEqual(expected(first));

        const read = await api(`/api/v1/contacts/${contact.id}`, { key });
        expect(read.status).toBe(200);
        expect(pick(await read.json<Contact>())).toEqual(expected(first));

        const replaced = await api(`/api/v1/contacts/${contact.id}`, { key, method: "PUT", body: second });
        expect(replaced.status).toBe(200);
        const reread = await api(`/api/v1/contacts/${contact.id}`, { key });
        const after = await reread.json<Contact>();
        expect(pick(after)).toEqual(expected(second));
        expect(after.version).toBe(2);
        expect(after.id).toBe(contact.id);
        expect(after.createdAt).toBe(contact.createdAt);
      }),
      { numRuns: 25 },
    );
  });

  it("text with combining marks, emoji sequences, RTL and control characters survives", async () => {
    const input = {
      firstName: "Zoë\u0301",
      lastName: "👩🏽‍💻 ليلى",
      email: `unicode.${crypto.randomUUID().slice(0, 8)}@example.com`,
      company: "Ünïcödé\tGmbH\n\u0000",
      notes: "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u202Eevil\u202C \\ \" '",
    };
    const created = await api("/api/v1/contacts", { key, method: "POST", body: input });
    expect(created.status).toBe(201);
    const { id } = await created.json<Contact>();
    const read = await api(`/api/v1/contacts/${id}`, { key });
    expect(pick(await read.json<Contact>())).toEqual(expected(input));
  });
});

describe("mapping", () => {
  const acmeContact = ACME_CONTACT;

  it("mapToAcme renames each writable field and carries null, but not absent fields", () => {
    expect(mapToAcme({ firstName: "Ada", email: "ada@example.com", phone: null })).toEqual({
      acme_first_name: "Ada",
      acme_email: "ada@example.com",
      acme_phone: null,
    });
    expect(mapToAcme({})).toEqual({});
  });

  it("mapToAcme never carries read-only or unknown fields", () => {
    const sneaky = { firstName: "Ada", id: "ct_x", version: "9", createdAt: "x", acme_deleted_at: "x" };
    expect(mapToAcme(sneaky as unknown as Parameters<typeof mapToAcme>[0])).toEqual({
      acme_first_name: "Ada",
    });
  });

  it("fromAcme renames every field, drops Acme fields the table does not name, and keeps the custom values raw", () => {
    const api = fromAcme({
      ...acmeContact,
      acme_deleted_at: null,
      acme_internal_score: 7,
      owner: "x",
      acme_custom: { contract_tier: "gold" },
    });
    expect(api).toEqual({
      id: "ct_1",
      firstName: "Ada",
      lastName: "Lovelace",
      email: "ada@example.com",
      phone: null,
      company: "Engines",
      title: null,
      notes: "n",
      version: 3,
      createdAt: "2024-01-01T00:00:00.000Z",
      updatedAt: "2024-01-02T00:00:00.000Z",
      acmeCustom: { contract_tier: "gold" },
    });
    expect(Object.keys(api).some((k) => k.startsWith("acme_"))).toBe(false);
    expect(fromAcme(acmeContact).acmeCustom).toEqual({});
  });

  it("fromAcme gives null for fields Acme left out", () => {
    const { acme_phone: _, acme_notes: __, ...partial } = acmeContact;
    expect(fromAcme(partial)).toMatchObject({ phone: null, notes: null, firstName: "Ada" });
  });

  it("fromAcme(mapToAcme(x)) restores every writable field (property)", () => {
    fc.assert(
      fc.property(contactInput, (input) => {
        const back = fromAcme(mapToAcme(input));
        for (const field of WRITABLE) expect(back[field]).toEqual(input[field] ?? null);
      }),
    );
  });

  it("acmeFieldToApi renames Acme's field paths and leaves others alone", () => {
    expect(acmeFieldToApi("acme_email")).toBe("email");
    expect(acmeFieldToApi("acme_first_name")).toBe("firstName");
    expect(acmeFieldToApi("acme_version")).toBe("version");
    expect(acmeFieldToApi("acme_notes.0")).toBe("notes.0");
    expect(acmeFieldToApi("id")).toBe("id");
    expect(acmeFieldToApi("body")).toBe("body");
    expect(acmeFieldToApi("")).toBe("");
    expect(acmeFieldToApi("email")).toBe("email");
  });

  it("the table is one-to-one and apiFieldToAcme inverts acmeFieldToApi", () => {
    const api = CONTACT_FIELDS.map((f) => f.api);
    const acme = CONTACT_FIELDS.map((f) => f.acme);
    expect(new Set(api).size).toBe(api.length);
    expect(new Set(acme).size).toBe(acme.length);
    for (const field of CONTACT_FIELDS) {
      expect(acmeFieldToApi(field.acme)).toBe(field.api);
      expect(apiFieldToAcme(field.api)).toBe(field.acme);
    }
    expect(apiFieldToAcme("acme_email")).toBeUndefined();
  });
});
