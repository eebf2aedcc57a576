// The bad inputs of custom fields end to end (each refused naming its field, nothing written at Acme) and their absence for other connections and accounts; the happy path and CSV import are in custom-fields.e2e.test.ts.
import { beforeAll, describe, expect, it } from "vitest";
import { acmeToken, admin, base, type E2eConnection, eventually, newConnection, post } from "./helpers.ts";

// Issue 25 end to end on the suite's shared `wrangler dev`: a property created at Acme, mapped
// through the API, written and read through `customFields`, seen in the change feed, and absent for
// other connections; bad input refused naming the field with nothing written at Acme. Every
// response is checked against the OpenAPI documents by check-fetch.ts.

interface Contact {
  id: string;
  email: string;
  version: number;
  customFields: Record<string, unknown>;
}

interface FeedEvent {
  seq: number;
  type: string;
  source: string;
  contact: Contact;
  changes: Record<string, { from: unknown; to: unknown }>;
}

interface Problem {
  status: number;
  code: string;
  detail: string;
  errors?: { field: string; message: string }[];
}

interface AcmeContact {
  id: string;
  acme_version: number;
  acme_custom: Record<string, unknown>;
}

async function api(key: string, path: string, init: { method?: string; body?: unknown } = {}) {
  return fetch(`${base}${path}`, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${key}`,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

async function acme(token: string, path: string, init: { method?: string; body?: unknown } = {}) {
  return api(token, `/acme${path}`, init);
}

async function ok<T>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  expect(res.status, `${res.url}: ${text}`).toBe(status);
  return JSON.parse(text) as T;
}

/** A problem response: its status, code, and the fields its `errors` name, sorted. */
async function problem(res: Response, status: number, code: string): Promise<string[]> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = (await res.json()) as Problem;
  expect(body).toMatchObject({ status, code });
  return (body.errors ?? []).map((e) => e.field).sort();
}

async function feed(key: string): Promise<FeedEvent[]> {
  return (await ok<{ data: FeedEvent[] }>(await api(key, "/api/v1/events?after=0&limit=500"))).data;
}

async function listed(key: string, email: string): Promise<Contact[]> {
  return (
    await ok<{ data: Contact[] }>(await api(key, `/api/v1/contacts?email=${encodeURIComponent(email)}`))
  ).data;
}

async function subscribe(connection: E2eConnection): Promise<void> {
  await post(`/api/v1/admin/connections/${connection.connectionId}/webhook-subscription`, admin, {});
}

let a: E2eConnection;
let aToken: string;

beforeAll(async () => {
  a = await newConnection();
  aToken = await acmeToken(a);
  await subscribe(a);
  for (const property of [
    { name: "contract_tier", label: "Contract tier", type: "enumeration", options: ["silver", "gold"] },
    { name: "seats", label: "Seats", type: "number" },
    { name: "renewal_date", label: "Renewal date", type: "date" },
    { name: "legacy_code", label: "Legacy code", type: "string" },
  ]) {
    await ok(await acme(aToken, "/v1/properties", { method: "POST", body: property }), 201);
  }
  // Archived before it is ever mapped: a mapping naming it is refused.
  const archived = await acme(aToken, "/v1/properties/legacy_code", { method: "DELETE" });
  expect(archived.status).toBe(204);
  const mapped = await ok<{ customFields: Record<string, { remote: string }> }>(
    await api(a.apiKey, "/api/v1/field-mappings", {
      method: "PUT",
      body: { customFields: { tier: { remote: "contract_tier" }, seats: { remote: "seats" } } },
    }),
  );
  expect(mapped.customFields).toMatchObject({
    tier: { remote: "contract_tier" },
    seats: { remote: "seats" },
  });
});

describe("custom fields end to end (issue 25)", () => {
  it("discovery and the schema name the mapped fields with Acme's types", async () => {
    const remote = await ok<{ data: { name: string; type: string; archived?: boolean }[] }>(
      await api(a.apiKey, "/api/v1/remote-fields"),
    );
    expect(JSON.stringify(remote)).toContain("contract_tier");
    const schema = await ok<{ properties: Record<string, unknown> }>(
      await api(a.apiKey, "/api/v1/field-mappings/schema"),
    );
    const custom = schema.properties.customFields as { properties: Record<string, { type?: unknown }> };
    expect(Object.keys(custom.properties).sort()).toEqual(["seats", "tier"]);
  });

  it("a value created and patched through customFields is held by Acme, read back, listed, and in the feed with its change", async () => {
    const email = `cf-${crypto.randomUUID()}@example.com`;
    const created = await ok<Contact>(
      await api(a.apiKey, "/api/v1/contacts", {
        method: "POST",
        body: {
          firstName: "Katherine",
          lastName: "Johnson",
          email,
          customFields: { tier: "silver", seats: 3 },
        },
      }),
      201,
    );
    expect(created.customFields).toEqual({ tier: "silver", seats: 3 });
    const atAcme = await ok<AcmeContact>(await acme(aToken, `/v1/contacts/${created.id}`));
    expect(atAcme.acme_custom).toEqual({ contract_tier: "silver", seats: 3 });

    const patched = await ok<Contact>(
      await api(a.apiKey, `/api/v1/contacts/${created.id}`, {
        method: "PATCH",
        body: { customFields: { tier: "gold" } },
      }),
    );
    expect(patched.customFields).toEqual({ tier: "gold", seats: 3 });
    expect((await ok<AcmeContact>(await acme(aToken, `/v1/contacts/${created.id}`))).acme_custom).toEqual({
      contract_tier: "gold",
      seats: 3,
    });

    const read = await ok<Contact>(await api(a.apiKey, `/api/v1/contacts/${created.id}`));
    expect(read.customFields).toEqual({ tier: "gold", seats: 3 });
    expect((await listed(a.apiKey, email)).map((c) => c.customFields)).toEqual([{ tier: "gold", seats: 3 }]);

    const updated = await eventually(async () =>
      (await feed(a.apiKey)).find(
        (e) => e.contact.id === created.id && e.contact.version === patched.version,
      ),
    );
    expect(updated.type).toBe("contact.updated");
    expect(updated.contact.customFields).toEqual({ tier: "gold", seats: 3 });
    expect(updated.changes).toEqual({ "customFields.tier": { from: "silver", to: "gold" } });
    const createdEvent = (await feed(a.apiKey)).find(
      (e) => e.contact.id === created.id && e.type === "contact.created",
    );
    expect(createdEvent?.contact.customFields).toEqual({ tier: "silver", seats: 3 });

    // A second connection to the same Acme account, mapping nothing, and one to another account.
    const sameAccount = await sameAccountConnection(a);
    await subscribe(sameAccount);
    const other = await newConnection();
    const seenBySame = await ok<Contact>(await api(sameAccount.apiKey, `/api/v1/contacts/${created.id}`));
    expect(seenBySame.customFields).toEqual({});
    expect(JSON.stringify(seenBySame)).not.toMatch(/gold|contract_tier|seats/);
    const sameListed = await listed(sameAccount.apiKey, email);
    expect(sameListed).toHaveLength(1);
    expect(JSON.stringify(sameListed)).not.toMatch(/gold|contract_tier|seats/);
    // The same account's next change reaches the second connection's feed without the custom values.
    const renamed = await ok<AcmeContact>(
      await acme(aToken, `/v1/contacts/${created.id}`, {
        method: "PATCH",
        body: { acme_title: "Mathematician", acme_custom: { seats: 4 } },
      }),
    );
    const sameEvent = await eventually(async () =>
      (await feed(sameAccount.apiKey)).find(
        (e) => e.contact.id === created.id && e.contact.version === renamed.acme_version,
      ),
    );
    expect(sameEvent.contact.customFields).toEqual({});
    expect(Object.keys(sameEvent.changes)).toEqual(["title"]);
    expect(JSON.stringify(sameEvent)).not.toMatch(/gold|contract_tier|seats/);
    const aEvent = await eventually(async () =>
      (await feed(a.apiKey)).find(
        (e) => e.contact.id === created.id && e.contact.version === renamed.acme_version,
      ),
    );
    expect(aEvent.changes).toEqual({
      title: { from: null, to: "Mathematician" },
      "customFields.seats": { from: 3, to: 4 },
    });

    expect((await api(other.apiKey, `/api/v1/contacts/${created.id}`)).status).toBe(404);
    expect(await listed(other.apiKey, email)).toEqual([]);
    expect(JSON.stringify(await feed(other.apiKey))).not.toContain(created.id);
  });

  describe("bad input: a clear 400/422 naming the field, nothing written at Acme", () => {
    let contact: Contact;
    let before: AcmeContact;

    beforeAll(async () => {
      contact = await ok<Contact>(
        await api(a.apiKey, "/api/v1/contacts", {
          method: "POST",
          body: {
            firstName: "Dorothy",
            lastName: "Vaughan",
            email: `cf-bad-${crypto.randomUUID()}@example.com`,
            customFields: { tier: "silver", seats: 1 },
          },
        }),
        201,
      );
      before = await ok<AcmeContact>(await acme(aToken, `/v1/contacts/${contact.id}`));
    });

    async function unchangedAtAcme(): Promise<void> {
      const now = await ok<AcmeContact>(await acme(aToken, `/v1/contacts/${contact.id}`));
      expect(now).toEqual(before);
    }

    it("a value of the wrong type", async () => {
      const res = await api(a.apiKey, `/api/v1/contacts/${contact.id}`, {
        method: "PATCH",
        body: { customFields: { seats: "three" } },
      });
      expect(await problem(res, 400, "validation_failed")).toEqual(["customFields.seats"]);
      const bad = await api(a.apiKey, `/api/v1/contacts/${contact.id}`, {
        method: "PATCH",
        body: { customFields: { tier: "platinum" } },
      });
      expect(await problem(bad, 400, "validation_failed")).toEqual(["customFields.tier"]);
      await unchangedAtAcme();
    });

    it("a name the connection does not map, on a PATCH and on a create (no contact made)", async () => {
      const res = await api(a.apiKey, `/api/v1/contacts/${contact.id}`, {
        method: "PATCH",
        body: { customFields: { renewal: "2026-09-30" } },
      });
      expect(await problem(res, 400, "validation_failed")).toEqual(["customFields.renewal"]);
      await unchangedAtAcme();
      const email = `cf-unmapped-${crypto.randomUUID()}@example.com`;
      const create = await api(a.apiKey, "/api/v1/contacts", {
        method: "POST",
        body: { firstName: "Mary", lastName: "Jackson", email, customFields: { renewal: "2026-09-30" } },
      });
      expect(await problem(create, 400, "validation_failed")).toEqual(["customFields.renewal"]);
      const atAcme = await ok<{ results: unknown[] }>(
        await acme(aToken, `/v1/contacts?email=${encodeURIComponent(email)}`),
      );
      expect(atAcme.results).toEqual([]);
    });

    it("a mapping to a property the account does not have, or has archived: 422 unknown_remote_field; the mapping is unchanged", async () => {
      const mappingBefore = await ok(await api(a.apiKey, "/api/v1/field-mappings"));
      const unknown = await api(a.apiKey, "/api/v1/field-mappings", {
        method: "PUT",
        body: { customFields: { tier: { remote: "contract_tier" }, size: { remote: "tshirt_size" } } },
      });
      expect(await problem(unknown, 422, "unknown_remote_field")).toEqual(["customFields.size.remote"]);
      const archived = await api(a.apiKey, "/api/v1/field-mappings", {
        method: "PUT",
        body: { customFields: { legacy: { remote: "legacy_code" } } },
      });
      expect(await problem(archived, 422, "unknown_remote_field")).toEqual(["customFields.legacy.remote"]);
      expect(await ok(await api(a.apiKey, "/api/v1/field-mappings"))).toEqual(mappingBefore);
      await unchangedAtAcme();
    });

    it("a mapping name that is one of the contact's own fields: 400 naming it", async () => {
      const mappingBefore = await ok(await api(a.apiKey, "/api/v1/field-mappings"));
      const res = await api(a.apiKey, "/api/v1/field-mappings", {
        method: "PUT",
        body: { customFields: { email: { remote: "renewal_date" } } },
      });
      expect(await problem(res, 400, "validation_failed")).toEqual(["customFields.email"]);
      expect(await ok(await api(a.apiKey, "/api/v1/field-mappings"))).toEqual(mappingBefore);
    });

    it("a write to a mapped property archived at Acme since: refused naming the field, the value kept", async () => {
      const b = await newConnection();
      const bToken = await acmeToken(b);
      await ok(
        await acme(bToken, "/v1/properties", {
          method: "POST",
          body: { name: "region", label: "Region", type: "string" },
        }),
        201,
      );
      await ok(
        await api(b.apiKey, "/api/v1/field-mappings", {
          method: "PUT",
          body: { customFields: { region: { remote: "region" } } },
        }),
      );
      const held = await ok<Contact>(
        await api(b.apiKey, "/api/v1/contacts", {
          method: "POST",
          body: {
            firstName: "Annie",
            lastName: "Easley",
            email: `cf-archived-${crypto.randomUUID()}@example.com`,
            customFields: { region: "north" },
          },
        }),
        201,
      );
      expect((await acme(bToken, "/v1/properties/region", { method: "DELETE" })).status).toBe(204);
      const atAcmeBefore = await ok<AcmeContact>(await acme(bToken, `/v1/contacts/${held.id}`));
      const res = await api(b.apiKey, `/api/v1/contacts/${held.id}`, {
        method: "PATCH",
        body: { customFields: { region: "south" } },
      });
      expect(await problem(res, 400, "validation_failed")).toEqual(["customFields.region"]);
      expect(await ok<AcmeContact>(await acme(bToken, `/v1/contacts/${held.id}`))).toEqual(atAcmeBefore);
      expect((await ok<Contact>(await api(b.apiKey, `/api/v1/contacts/${held.id}`))).customFields).toEqual({
        region: "north",
      });
    });
  });
});

/** A second connection to `connection`'s Acme account (same client), with its own API key. */
async function sameAccountConnection(connection: E2eConnection): Promise<E2eConnection> {
  const created = await post<{ id: string }>("/api/v1/admin/connections", admin, {
    name: "e2e same account",
    acmeClientId: connection.acmeClientId,
    acmeClientSecret: connection.acmeClientSecret,
  });
  const key = await post<{ apiKey: string }>(`/api/v1/admin/connections/${created.id}/api-keys`, admin, {});
  return { ...connection, apiKey: key.apiKey, connectionId: created.id };
}
