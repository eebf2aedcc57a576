import { describe, expect, it } from "vitest";
import {
  api,
  type Contact,
  createContact,
  expectProblem,
  newConnection,
  person,
  problem,
} from "./helpers.ts";

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
    // The seed's PUT updates the fields it is given and keeps the others (README, seed paths).
    expect(await replaced.json()).toMatchObject({
      firstName: "Augusta",
      lastName: "King",
      phone: "+44 20 7946 0000",
      company: "Analytical Engines",
      version: 2,
    });

    const patched = await api(`/api/v1/contacts/${contact.id}`, {
      key,
      method: "PATCH",
      body: { title: "Countess" },
    });
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

  it("every contact route needs an API key, and a malformed Authorization header is 401 too", async () => {
    const { apiKey: key } = await newConnection();
    const contact = await createContact(key);
    const routes = [
      ["GET", "/api/v1/contacts"],
      ["POST", "/api/v1/contacts"],
      ["GET", `/api/v1/contacts/${contact.id}`],
      ["PUT", `/api/v1/contacts/${contact.id}`],
      ["PATCH", `/api/v1/contacts/${contact.id}`],
      ["DELETE", `/api/v1/contacts/${contact.id}`],
      ["GET", `/api/contacts/${contact.id}`],
    ] as const;
    for (const [method, path] of routes) {
      for (const authorization of [undefined, `Basic ${btoa(`${key}:`)}`, `Bearer`, `Bearer ${key}x`]) {
        const res = await api(path, {
          method,
          ...(method === "POST" || method === "PUT" ? { body: person() } : {}),
          headers: authorization ? { authorization } : {},
        });
        const body = await expectProblem(res, 401, "unauthorized");
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
        expect(JSON.stringify(body)).not.toContain(key);
      }
    }
    // None of the attempts above touched the contact.
    const read = await api(`/api/v1/contacts/${contact.id}`, { key });
    expect(await read.json()).toEqual(contact);
  });

  it("/api/v1/contacts and /api/contacts are the same resources", async () => {
    const { apiKey: key } = await newConnection();
    const created = await api("/api/v1/contacts", { key, method: "POST", body: person() });
    expect(created.status).toBe(201);
    const contact = await created.json<Contact>();
    expect(created.headers.get("location")).toBe(`/api/v1/contacts/${contact.id}`);
    const viaShort = await api(`/api/contacts/${contact.id}`, { key });
    expect(await viaShort.json()).toEqual(contact);
    const listed = await api(`/api/contacts?email=${encodeURIComponent(contact.email)}`, { key });
    expect((await listed.json<{ data: Contact[] }>()).data).toEqual([contact]);
  });

  it("PATCH keeps absent fields, clears optional fields set to null, and can change the email", async () => {
    const { apiKey: key } = await newConnection();
    const contact = await createContact(
      key,
      person({ phone: "+1 555 0100", company: "Engines", notes: "n" }),
    );
    const email = person().email;
    const res = await api(`/api/v1/contacts/${contact.id}`, {
      key,
      method: "PATCH",
      body: { phone: null, email },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      firstName: contact.firstName,
      phone: null,
      company: "Engines",
      notes: "n",
      email,
      version: 2,
    });
  });

  it("DELETE of a contact already deleted is 404", async () => {
    const { apiKey: key } = await newConnection();
    const contact = await createContact(key);
    expect((await api(`/api/v1/contacts/${contact.id}`, { key, method: "DELETE" })).status).toBe(204);
    await expectProblem(
      await api(`/api/v1/contacts/${contact.id}`, { key, method: "DELETE" }),
      404,
      "not_found",
    );
  });
});
