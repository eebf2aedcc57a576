import { describe, expect, it } from "vitest";
import { type Contact, type ContactInput, createAcmeBridgeClient } from "../../client/index.ts";
import { base, newConnection } from "./helpers.ts";

// A program outside src/ using the published client: every call below is typed from
// client/schema.d.ts, so a drifting document breaks `npm run typecheck` as well as this test.

describe("the typed client", () => {
  it("creates, reads, lists, patches and deletes a contact", async () => {
    const { apiKey } = await newConnection();
    const api = createAcmeBridgeClient({ baseUrl: base, apiKey });
    const input: ContactInput = {
      firstName: "Katherine",
      lastName: "Johnson",
      email: `katherine.${crypto.randomUUID()}@example.com`,
      phone: "+1 757 864 1000 x2",
    };

    const created = await api.POST("/api/v1/contacts", { body: input });
    expect(created.response.status).toBe(201);
    const contact: Contact | undefined = created.data;
    if (!contact) throw new Error(`create failed: ${JSON.stringify(created.error)}`);
    expect(contact).toMatchObject({ ...input, version: 1 });
    expect(created.response.headers.get("location")).toBe(`/api/v1/contacts/${contact.id}`);

    const read = await api.GET("/api/v1/contacts/{id}", { params: { path: { id: contact.id } } });
    expect(read.data).toEqual(contact);

    const listed = await api.GET("/api/v1/contacts", {
      params: { query: { email: input.email, limit: 10 } },
    });
    expect(listed.data?.data.map((c) => c.id)).toEqual([contact.id]);
    expect(listed.data?.nextCursor).toBeNull();

    const patched = await api.PATCH("/api/v1/contacts/{id}", {
      params: { path: { id: contact.id }, header: { "if-match": `"${contact.version}"` } },
      body: { title: "Mathematician", phone: null },
    });
    expect(patched.data).toMatchObject({ id: contact.id, title: "Mathematician", phone: null, version: 2 });

    const deleted = await api.DELETE("/api/v1/contacts/{id}", { params: { path: { id: contact.id } } });
    expect(deleted.response.status).toBe(204);
    const gone = await api.GET("/api/v1/contacts/{id}", { params: { path: { id: contact.id } } });
    expect(gone.response.status).toBe(404);
    expect(gone.error?.code).toBe("not_found");
  });

  it("hands back the problem, typed, when the request is refused", async () => {
    const { apiKey } = await newConnection();
    const api = createAcmeBridgeClient({ baseUrl: base, apiKey });
    const invalid = await api.POST("/api/v1/contacts", {
      body: { firstName: "No", lastName: "Email", email: "not an email" },
    });
    expect(invalid.data).toBeUndefined();
    expect(invalid.error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(invalid.error?.errors?.map((e) => e.field)).toEqual(["email"]);

    const stranger = createAcmeBridgeClient({ baseUrl: base, apiKey: "ab_not_a_key" });
    const refused = await stranger.GET("/api/v1/contacts");
    expect(refused.response.status).toBe(401);
    expect(refused.error?.code).toBe("unauthorized");
  });
});
