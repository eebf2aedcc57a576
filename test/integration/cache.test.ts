import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { acme, tokenFor } from "../acme/helpers.ts";
import {
  api,
  type Contact,
  createContact,
  expectProblem,
  newConnection,
  person,
  type TestConnection,
} from "./helpers.ts";

let a: TestConnection;
let b: TestConnection;

beforeAll(async () => {
  [a, b] = await Promise.all([newConnection(), newConnection()]);
});

async function get(key: string, id: string) {
  const res = await api(`/api/v1/contacts/${id}`, { key });
  expect(res.status).toBe(200);
  return {
    cache: res.headers.get("x-cache"),
    etag: res.headers.get("etag"),
    body: await res.json<Contact>(),
  };
}

describe("read-through cache of single contacts", () => {
  it("the first read is a MISS, the second a HIT with the same body and ETag", async () => {
    const contact = await createContact(a.apiKey);
    const first = await get(a.apiKey, contact.id);
    const second = await get(a.apiKey, contact.id);
    expect(first.cache).toBe("MISS");
    expect(second.cache).toBe("HIT");
    expect(second.body).toEqual(first.body);
    expect(second.body).toEqual(contact);
    expect(second.etag).toBe(first.etag);
    expect(second.etag).toBe(`"${contact.version}"`);
  });

  it("a HIT is served without asking Acme: a change made directly at Acme is not seen until invalidated", async () => {
    const contact = await createContact(a.apiKey);
    await get(a.apiKey, contact.id);
    const token = await tokenFor(a.acmeClient);
    const direct = await acme(`/v1/contacts/${contact.id}`, {
      token,
      method: "PATCH",
      body: { acme_title: "Direct" },
    });
    expect(direct.status).toBe(200);
    const cached = await get(a.apiKey, contact.id);
    expect(cached.cache).toBe("HIT");
    expect(cached.body.title).toBeNull();
  });

  it("Cache-Control: no-cache asks Acme even when the cached copy is fresh, and refreshes it", async () => {
    const contact = await createContact(a.apiKey);
    await get(a.apiKey, contact.id);
    const token = await tokenFor(a.acmeClient);
    await acme(`/v1/contacts/${contact.id}`, { token, method: "PATCH", body: { acme_title: "Fresh" } });
    const revalidated = await api(`/api/v1/contacts/${contact.id}`, {
      key: a.apiKey,
      headers: { "cache-control": "no-cache" },
    });
    expect(revalidated.headers.get("x-cache")).toBe("MISS");
    expect((await revalidated.json<{ title: string }>()).title).toBe("Fresh");
    const after = await get(a.apiKey, contact.id);
    expect(after.cache).toBe("HIT");
    expect(after.body.title).toBe("Fresh");
  });

  it("a 404 is not cached: a contact read before it exists is not remembered as absent", async () => {
    await expectProblem(
      await api("/api/v1/contacts/ct_00000000000000000000000000", { key: a.apiKey }),
      404,
      "not_found",
    );
    await expectProblem(
      await api("/api/v1/contacts/ct_00000000000000000000000000", { key: a.apiKey }),
      404,
      "not_found",
    );
    const keys = await env.CACHE.list({ prefix: `contact:${a.connectionId}:ct_00000000000000000000000000` });
    expect(keys.keys).toEqual([]);
  });
});

describe("invalidation by the integration's own writes", () => {
  it.each([
    ["PUT", (c: Contact) => person({ email: c.email, firstName: "Augusta" })],
    ["PATCH", () => ({ firstName: "Augusta" })],
  ] as const)("after %s the next read is a MISS showing the new version", async (method, body) => {
    const contact = await createContact(a.apiKey);
    await get(a.apiKey, contact.id);
    expect((await get(a.apiKey, contact.id)).cache).toBe("HIT");

    const res = await api(`/api/v1/contacts/${contact.id}`, { key: a.apiKey, method, body: body(contact) });
    expect(res.status).toBe(200);
    const after = await get(a.apiKey, contact.id);
    expect(after.cache).toBe("MISS");
    expect(after.body).toMatchObject({ firstName: "Augusta", version: 2 });
    expect(after.etag).toBe('"2"');
    expect((await get(a.apiKey, contact.id)).cache).toBe("HIT");
  });

  it("after DELETE the contact is 404, never served from the cache", async () => {
    const contact = await createContact(a.apiKey);
    await get(a.apiKey, contact.id);
    expect((await get(a.apiKey, contact.id)).cache).toBe("HIT");
    expect((await api(`/api/v1/contacts/${contact.id}`, { key: a.apiKey, method: "DELETE" })).status).toBe(
      204,
    );
    await expectProblem(await api(`/api/v1/contacts/${contact.id}`, { key: a.apiKey }), 404, "not_found");
  });

  it("a rejected write (412) still drops the copy, since a failed write may have landed", async () => {
    const contact = await createContact(a.apiKey);
    await get(a.apiKey, contact.id);
    const res = await api(`/api/v1/contacts/${contact.id}`, {
      key: a.apiKey,
      method: "PATCH",
      body: { title: "x" },
      headers: { "if-match": '"9"' },
    });
    await expectProblem(res, 412, "version_mismatch");
    expect((await get(a.apiKey, contact.id)).cache).toBe("MISS");
  });
});

describe("cache keys are per connection", () => {
  it("A's cached contact is never served to B: B gets 404 while A keeps its HIT", async () => {
    const contact = await createContact(a.apiKey);
    await get(a.apiKey, contact.id);
    expect((await get(a.apiKey, contact.id)).cache).toBe("HIT");

    const res = await api(`/api/v1/contacts/${contact.id}`, { key: b.apiKey });
    await expectProblem(res, 404, "not_found");
    expect(res.headers.get("x-cache")).toBeNull();
    expect((await get(a.apiKey, contact.id)).cache).toBe("HIT");
  });

  it("entries are stored under the owning connection's key only", async () => {
    const contact = await createContact(a.apiKey);
    await get(a.apiKey, contact.id);
    const own = await env.CACHE.list({ prefix: `contact:${a.connectionId}:${contact.id}` });
    const other = await env.CACHE.list({ prefix: `contact:${b.connectionId}:` });
    expect(own.keys.map((k) => k.name)).toEqual([`contact:${a.connectionId}:${contact.id}`]);
    expect(other.keys.some((k) => k.name.endsWith(contact.id))).toBe(false);
  });

  it("B's writes to A's id are 404 and do not evict A's copy", async () => {
    const contact = await createContact(a.apiKey);
    await get(a.apiKey, contact.id);
    const res = await api(`/api/v1/contacts/${contact.id}`, {
      key: b.apiKey,
      method: "PATCH",
      body: { title: "x" },
    });
    await expectProblem(res, 404, "not_found");
    expect((await get(a.apiKey, contact.id)).cache).toBe("HIT");
  });
});
