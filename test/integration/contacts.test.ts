import { describe, expect, it } from "vitest";
import { uniqueEmail } from "../acme/helpers.ts";
import { api, newConnection, problem } from "./helpers.ts";

const person = (overrides: Record<string, unknown> = {}) => ({
  firstName: "Ada",
  lastName: "Lovelace",
  email: uniqueEmail("ada"),
  ...overrides,
});

describe("integration contacts API", () => {
  it("creates, reads, replaces, patches and deletes a contact under /api/contacts", async () => {
    const { apiKey: key } = await newConnection();
    const input = person({ phone: "+44 20 7946 0000", company: "Analytical Engines" });
    const created = await api("/api/contacts", { key, method: "POST", body: input });
    expect(created.status).toBe(201);
    const contact = await created.json<Record<string, unknown>>();
    expect(contact).toMatchObject({ ...input, title: null, notes: null, version: 1 });
    expect(Object.keys(contact).some((k) => k.startsWith("acme_"))).toBe(false);
    expect(created.headers.get("location")).toBe(`/api/contacts/${contact.id}`);
    expect(created.headers.get("etag")).toBe('"1"');
    expect(created.headers.get("x-request-id")).toBeTruthy();

    const read = await api(`/api/contacts/${contact.id}`, { key });
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual(contact);

    const replaced = await api(`/api/contacts/${contact.id}`, {
      key,
      method: "PUT",
      body: { firstName: "Augusta", lastName: "King", email: input.email },
      headers: { "if-match": '"1"' },
    });
    expect(replaced.status).toBe(200);
    expect(await replaced.json()).toMatchObject({ firstName: "Augusta", phone: null, company: null, version: 2 });

    const patched = await api(`/api/v1/contacts/${contact.id}`, { key, method: "PATCH", body: { title: "Countess" } });
    expect(await patched.json()).toMatchObject({ firstName: "Augusta", title: "Countess", version: 3 });
    expect(patched.headers.get("etag")).toBe('"3"');

    const deleted = await api(`/api/contacts/${contact.id}`, { key, method: "DELETE" });
    expect(deleted.status).toBe(204);
    const gone = await api(`/api/contacts/${contact.id}`, { key });
    expect(gone.status).toBe(404);
    expect(await problem(gone)).toMatchObject({ code: "not_found", status: 404 });
  });

  it("rejects requests without a valid API key", async () => {
    const none = await api("/api/v1/contacts");
    expect(none.status).toBe(401);
    expect((await problem(none)).code).toBe("unauthorized");
    const wrong = await api("/api/v1/contacts", { key: "ab_not-a-key" });
    expect(wrong.status).toBe(401);
  });
});
