import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AcmeContact } from "../../src/acme/contacts/schemas.ts";
import {
  ACME,
  acme,
  createContact,
  detailFields,
  expectAcmeError,
  signedIn,
  uniqueEmail,
} from "./helpers.ts";

const MAX_BODY_BYTES = Number(env.ACME_MAX_BODY_BYTES);

function fullContact(email = uniqueEmail()) {
  return {
    acme_email: email,
    acme_first_name: "Ada",
    acme_last_name: "Lovelace",
    acme_phone: "+44 (20) 7946-0018 x12",
    acme_company: "Analytical Engines Ltd",
    acme_title: "Programmer",
    acme_notes: "Wrote the first algorithm.\nSecond line.",
  };
}

async function read(token: string, id: string, query = ""): Promise<{ res: Response; contact: AcmeContact }> {
  const res = await acme(`/v1/contacts/${id}${query}`, { token });
  expect(res.status).toBe(200);
  return { res, contact: await res.json<AcmeContact>() };
}

async function listIds(token: string, query = ""): Promise<string[]> {
  const res = await acme(`/v1/contacts?limit=100${query}`, { token });
  expect(res.status).toBe(200);
  return (await res.json<{ results: AcmeContact[] }>()).results.map((c) => c.id);
}

describe("POST /acme/v1/contacts", () => {
  it('creates a contact: 201, ETag "1", every field round trips, and Location resolves to it', async () => {
    const { token } = await signedIn();
    const input = fullContact();
    const res = await acme("/v1/contacts", { token, method: "POST", body: input });
    expect(res.status).toBe(201);
    expect(res.headers.get("etag")).toBe('"1"');
    const created = await res.json<AcmeContact>();
    expect(created).toMatchObject({ ...input, acme_version: 1, acme_deleted_at: null });
    expect(created.id).toMatch(/^ct_[0-9a-z]{26}$/);
    expect(created.acme_created_at).toBe(created.acme_updated_at);
    expect(new Date(created.acme_created_at).toISOString()).toBe(created.acme_created_at);

    const location = res.headers.get("location");
    expect(location).toBe(`/acme/v1/contacts/${created.id}`);
    const followed = await SELF.fetch(new URL(location ?? "", `${ACME}/v1/contacts`), {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(followed.status).toBe(200);
    expect(await followed.json()).toEqual(created);
  });

  it("keeps text in any script, and emoji, exactly as sent", async () => {
    const { token } = await signedIn();
    const input = {
      acme_email: uniqueEmail("zoe"),
      acme_first_name: "Zoë 李",
      acme_last_name: "Ñúñez-Ørsted",
      acme_company: "Ελληνικά · العربية · עברית",
      acme_notes: "🚀 naïve café — \u0000 and \u{1F468}\u200D\u{1F469}\u200D\u{1F467}",
    };
    const created = await createContact(token, input);
    const { contact } = await read(token, created.id);
    expect(contact).toMatchObject(input);
  });

  it("sets omitted optional fields to null", async () => {
    const { token } = await signedIn();
    const email = uniqueEmail();
    const created = await createContact(token, { acme_email: email });
    expect(created).toMatchObject({
      acme_email: email,
      acme_first_name: null,
      acme_last_name: null,
      acme_phone: null,
      acme_company: null,
      acme_title: null,
      acme_notes: null,
    });
  });

  it("accepts fields exactly at their maximum length", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, {
      acme_email: uniqueEmail(),
      acme_first_name: "a".repeat(100),
      acme_company: "c".repeat(200),
      acme_notes: "n".repeat(10_000),
    });
    expect(created.acme_first_name).toHaveLength(100);
    expect(created.acme_notes).toHaveLength(10_000);
  });

  it("rejects unknown fields with validation_failed naming each one, including read-only ones", async () => {
    const { token } = await signedIn();
    const email = uniqueEmail();
    const res = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: { acme_email: email, first_name: "Ada", acme_version: 7, id: "ct_chosen" },
    });
    const body = await expectAcmeError(res, 400, "validation_failed");
    expect(detailFields(body)).toEqual(["acme_version", "first_name", "id"]);
    expect(await listIds(token, `&email=${encodeURIComponent(email)}`)).toEqual([]);
  });

  it.each([
    ["an invalid email", { acme_email: "not-an-email" }, "acme_email"],
    ["a missing email", { acme_email: undefined, acme_first_name: "Ada" }, "acme_email"],
    ["a null email", { acme_email: null }, "acme_email"],
    ["an overlong email", { acme_email: `${"a".repeat(250)}@example.com` }, "acme_email"],
    ["an overlong first name", { acme_first_name: "a".repeat(101) }, "acme_first_name"],
    ["an overlong last name", { acme_last_name: "a".repeat(101) }, "acme_last_name"],
    ["an overlong company", { acme_company: "a".repeat(201) }, "acme_company"],
    ["an overlong title", { acme_title: "a".repeat(201) }, "acme_title"],
    ["overlong notes", { acme_notes: "a".repeat(10_001) }, "acme_notes"],
    ["a phone with letters", { acme_phone: "call me maybe" }, "acme_phone"],
    ["a number where text belongs", { acme_company: 42 }, "acme_company"],
  ])("rejects %s with 400 naming the field", async (_label, fields, field) => {
    const { token } = await signedIn();
    const res = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: { acme_email: uniqueEmail(), ...fields },
    });
    const body = await expectAcmeError(res, 400, "validation_failed");
    expect(detailFields(body)).toEqual([field]);
    expect(await listIds(token)).toEqual([]);
  });

  it("rejects malformed JSON with invalid_json", async () => {
    const { token } = await signedIn();
    const res = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: '{"acme_email": "a@example.com",',
    });
    await expectAcmeError(res, 400, "invalid_json");
  });

  it.each([["[]"], ['"a@example.com"'], ["null"], ["42"]])(
    "rejects the JSON value %s, which is not an object, with validation_failed",
    async (raw) => {
      const { token } = await signedIn();
      await expectAcmeError(
        await acme("/v1/contacts", { token, method: "POST", body: raw }),
        400,
        "validation_failed",
      );
    },
  );

  it.each([["text/plain"], ["application/x-www-form-urlencoded"], ["multipart/form-data; boundary=x"]])(
    "rejects a body sent as %s with 415",
    async (contentType) => {
      const { token } = await signedIn();
      const res = await acme("/v1/contacts", {
        token,
        method: "POST",
        body: JSON.stringify({ acme_email: uniqueEmail() }),
        headers: { "content-type": contentType },
      });
      await expectAcmeError(res, 415, "unsupported_media_type");
      expect(await listIds(token)).toEqual([]);
    },
  );

  it("rejects a body with no content type with 415", async () => {
    const { token } = await signedIn();
    const res = await SELF.fetch(`${ACME}/v1/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
      body: new TextEncoder().encode(JSON.stringify({ acme_email: uniqueEmail() })),
    });
    await expectAcmeError(res, 415, "unsupported_media_type");
  });

  it("rejects a body over ACME_MAX_BODY_BYTES with 413, and judges one of exactly that size on its content", async () => {
    const { token } = await signedIn();
    const padded = (bytes: number) => {
      const prefix = `{"acme_email":"${uniqueEmail()}","acme_notes":"`;
      return `${prefix}${"x".repeat(bytes - prefix.length - 2)}"}`;
    };
    const over = padded(MAX_BODY_BYTES + 1);
    expect(new TextEncoder().encode(over).byteLength).toBe(MAX_BODY_BYTES + 1);
    await expectAcmeError(
      await acme("/v1/contacts", { token, method: "POST", body: over }),
      413,
      "payload_too_large",
    );

    // Exactly at the limit the body is read; its notes are too long, so it fails validation instead.
    const exact = padded(MAX_BODY_BYTES);
    const res = await acme("/v1/contacts", { token, method: "POST", body: exact });
    const body = await expectAcmeError(res, 400, "validation_failed");
    expect(detailFields(body)).toEqual(["acme_notes"]);
  });

  it("rejects a streamed body without Content-Length once it passes the limit", async () => {
    const { token } = await signedIn();
    const chunk = new TextEncoder().encode(
      `{"acme_email":"${uniqueEmail()}","acme_notes":"${"x".repeat(16_000)}`,
    );
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > MAX_BODY_BYTES * 2) {
          controller.enqueue(new TextEncoder().encode('"}'));
          controller.close();
          return;
        }
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
    const res = await SELF.fetch(`${ACME}/v1/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: stream,
    });
    await expectAcmeError(res, 413, "payload_too_large");
  });

  it("refuses a second live contact with the same email, ignoring case, with 409 duplicate_email", async () => {
    const { token } = await signedIn();
    const email = uniqueEmail("Mixed.Case");
    const first = await createContact(token, { acme_email: email });
    const res = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: { acme_email: email.toUpperCase() },
    });
    const body = await expectAcmeError(res, 409, "duplicate_email");
    expect(detailFields(body)).toEqual(["acme_email"]);
    expect(await listIds(token)).toEqual([first.id]);
  });

  it("allows the same email in another account", async () => {
    const a = await signedIn();
    const b = await signedIn();
    const email = uniqueEmail();
    await createContact(a.token, { acme_email: email });
    const res = await acme("/v1/contacts", { token: b.token, method: "POST", body: { acme_email: email } });
    expect(res.status).toBe(201);
  });

  it("lets an email be used again once the contact holding it is deleted", async () => {
    const { token } = await signedIn();
    const email = uniqueEmail();
    const first = await createContact(token, { acme_email: email });
    expect((await acme(`/v1/contacts/${first.id}`, { token, method: "DELETE" })).status).toBe(204);
    const second = await createContact(token, { acme_email: email });
    expect(second.id).not.toBe(first.id);
  });
});

describe("GET /acme/v1/contacts/{id}", () => {
  it("returns the contact with its version as ETag", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    await acme(`/v1/contacts/${created.id}`, { token, method: "PATCH", body: { acme_title: "CTO" } });
    const { res, contact } = await read(token, created.id);
    expect(res.headers.get("etag")).toBe('"2"');
    expect(contact).toEqual({
      ...created,
      acme_title: "CTO",
      acme_version: 2,
      acme_updated_at: contact.acme_updated_at,
    });
  });

  it("answers 404 not_found for an id that does not exist", async () => {
    const { token } = await signedIn();
    await expectAcmeError(
      await acme("/v1/contacts/ct_00000000000000000000000000", { token }),
      404,
      "not_found",
    );
  });

  it("rejects an unknown query parameter and a non-boolean include_deleted", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, { acme_email: uniqueEmail() });
    await expectAcmeError(
      await acme(`/v1/contacts/${created.id}?expand=all`, { token }),
      400,
      "validation_failed",
    );
    await expectAcmeError(
      await acme(`/v1/contacts/${created.id}?include_deleted=yes`, { token }),
      400,
      "validation_failed",
    );
  });
});

describe("PUT /acme/v1/contacts/{id}", () => {
  it("replaces the contact: omitted optional fields become null and the version goes up by one", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    const email = uniqueEmail();
    const res = await acme(`/v1/contacts/${created.id}`, {
      token,
      method: "PUT",
      body: { acme_email: email, acme_first_name: "Grace" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe('"2"');
    const replaced = await res.json<AcmeContact>();
    expect(replaced).toEqual({
      id: created.id,
      acme_email: email,
      acme_first_name: "Grace",
      acme_last_name: null,
      acme_phone: null,
      acme_company: null,
      acme_title: null,
      acme_notes: null,
      acme_custom: {},
      acme_version: 2,
      acme_created_at: created.acme_created_at,
      acme_updated_at: replaced.acme_updated_at,
      acme_deleted_at: null,
    });
    expect(replaced.acme_updated_at >= created.acme_updated_at).toBe(true);
    expect((await read(token, created.id)).contact).toEqual(replaced);
  });

  it("rejects a replacement without an email and leaves the contact unchanged", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    const res = await acme(`/v1/contacts/${created.id}`, {
      token,
      method: "PUT",
      body: { acme_first_name: "X" },
    });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual(["acme_email"]);
    expect((await read(token, created.id)).contact).toEqual(created);
  });

  it("accepts the contact's own email in another case", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, { acme_email: uniqueEmail("lower") });
    const res = await acme(`/v1/contacts/${created.id}`, {
      token,
      method: "PUT",
      body: { acme_email: created.acme_email.toUpperCase() },
    });
    expect(res.status).toBe(200);
    expect((await res.json<AcmeContact>()).acme_email).toBe(created.acme_email.toUpperCase());
  });

  it("refuses to take another live contact's email with 409 and changes nothing", async () => {
    const { token } = await signedIn();
    const holder = await createContact(token, { acme_email: uniqueEmail() });
    const other = await createContact(token, fullContact());
    const res = await acme(`/v1/contacts/${other.id}`, {
      token,
      method: "PUT",
      body: { acme_email: holder.acme_email.toUpperCase() },
    });
    await expectAcmeError(res, 409, "duplicate_email");
    expect((await read(token, other.id)).contact).toEqual(other);
  });

  it("answers 404 for an unknown id", async () => {
    const { token } = await signedIn();
    const res = await acme("/v1/contacts/ct_00000000000000000000000000", {
      token,
      method: "PUT",
      body: { acme_email: uniqueEmail() },
    });
    await expectAcmeError(res, 404, "not_found");
  });
});

describe("PATCH /acme/v1/contacts/{id}", () => {
  it("keeps the version when the patch changes nothing (empty, or values already there)", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    for (const body of [{}, { acme_title: created.acme_title }]) {
      const res = await acme(`/v1/contacts/${created.id}`, { token, method: "PATCH", body });
      expect(res.status).toBe(200);
      expect(res.headers.get("etag")).toBe('"1"');
      expect(await res.json()).toEqual(created);
    }
    const changed = await acme(`/v1/contacts/${created.id}`, {
      token,
      method: "PATCH",
      body: { acme_title: "New" },
    });
    expect(changed.headers.get("etag")).toBe('"2"');
  });

  it("merges: absent fields keep their value, null clears, given values replace", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    const res = await acme(`/v1/contacts/${created.id}`, {
      token,
      method: "PATCH",
      body: { acme_title: "Countess", acme_phone: null, acme_notes: null },
      headers: { "content-type": "application/merge-patch+json" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe('"2"');
    const patched = await res.json<AcmeContact>();
    expect(patched).toEqual({
      ...created,
      acme_title: "Countess",
      acme_phone: null,
      acme_notes: null,
      acme_version: 2,
      acme_updated_at: patched.acme_updated_at,
    });
    expect((await read(token, created.id)).contact).toEqual(patched);
  });

  it("refuses to clear the email (400 naming acme_email) and changes nothing", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    const res = await acme(`/v1/contacts/${created.id}`, {
      token,
      method: "PATCH",
      body: { acme_email: null },
    });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual(["acme_email"]);
    expect((await read(token, created.id)).contact).toEqual(created);
  });

  it("rejects unknown fields and changes nothing", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    const res = await acme(`/v1/contacts/${created.id}`, {
      token,
      method: "PATCH",
      body: { acme_title: "CEO", acme_deleted_at: null },
    });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual(["acme_deleted_at"]);
    expect((await read(token, created.id)).contact).toEqual(created);
  });

  it("refuses to take another live contact's email with 409 and changes nothing", async () => {
    const { token } = await signedIn();
    const holder = await createContact(token, { acme_email: uniqueEmail() });
    const other = await createContact(token, fullContact());
    const res = await acme(`/v1/contacts/${other.id}`, {
      token,
      method: "PATCH",
      body: { acme_email: holder.acme_email },
    });
    await expectAcmeError(res, 409, "duplicate_email");
    expect((await read(token, other.id)).contact).toEqual(other);
  });

  it("rejects malformed JSON and a non-JSON content type", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    const path = `/v1/contacts/${created.id}`;
    await expectAcmeError(
      await acme(path, { token, method: "PATCH", body: "{acme_title:" }),
      400,
      "invalid_json",
    );
    await expectAcmeError(
      await acme(path, { token, method: "PATCH", body: "{}", headers: { "content-type": "text/plain" } }),
      415,
      "unsupported_media_type",
    );
    expect((await read(token, created.id)).contact).toEqual(created);
  });
});

describe("DELETE /acme/v1/contacts/{id}", () => {
  it("soft deletes: 204, then 404 and absent from the list, but visible with include_deleted", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    const res = await acme(`/v1/contacts/${created.id}`, { token, method: "DELETE" });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");

    await expectAcmeError(await acme(`/v1/contacts/${created.id}`, { token }), 404, "not_found");
    expect(await listIds(token)).toEqual([]);

    const { contact } = await read(token, created.id, "?include_deleted=true");
    expect(contact).toMatchObject({ ...fullContactFields(created), acme_version: 2 });
    expect(contact.acme_deleted_at).not.toBeNull();
    expect(new Date(contact.acme_deleted_at ?? "").toISOString()).toBe(contact.acme_deleted_at);
    expect(contact.acme_updated_at).toBe(contact.acme_deleted_at);
    expect(await listIds(token, "&include_deleted=true")).toEqual([created.id]);
    expect(await listIds(token, "&include_deleted=false")).toEqual([]);
  });

  it("answers 404 to a second delete, and to PUT or PATCH of a deleted contact", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    expect((await acme(`/v1/contacts/${created.id}`, { token, method: "DELETE" })).status).toBe(204);
    const path = `/v1/contacts/${created.id}`;
    await expectAcmeError(await acme(path, { token, method: "DELETE" }), 404, "not_found");
    await expectAcmeError(
      await acme(path, { token, method: "PUT", body: { acme_email: uniqueEmail() } }),
      404,
      "not_found",
    );
    await expectAcmeError(
      await acme(path, { token, method: "PATCH", body: { acme_title: "x" } }),
      404,
      "not_found",
    );
    const { contact } = await read(token, created.id, "?include_deleted=true");
    expect(contact.acme_version).toBe(2);
  });
});

function fullContactFields(contact: AcmeContact) {
  const { acme_version: _v, acme_updated_at: _u, acme_deleted_at: _d, ...rest } = contact;
  return rest;
}

describe("If-Match on writes", () => {
  const writes = [
    ["PUT", (email: string) => ({ acme_email: email, acme_first_name: "Changed" })],
    ["PATCH", () => ({ acme_first_name: "Changed" })],
    ["DELETE", () => undefined],
  ] as const;

  it.each(writes)("%s with the current version applies and returns the next ETag", async (method, body) => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    const res = await acme(`/v1/contacts/${created.id}`, {
      token,
      method,
      body: body(created.acme_email),
      headers: { "if-match": '"1"' },
    });
    expect(res.status).toBe(method === "DELETE" ? 204 : 200);
    expect(res.headers.get("etag")).toBe('"2"');
  });

  it.each(writes)(
    "%s with a stale version is 412 version_mismatch and changes nothing",
    async (method, body) => {
      const { token } = await signedIn();
      const created = await createContact(token, fullContact());
      const patched = await acme(`/v1/contacts/${created.id}`, {
        token,
        method: "PATCH",
        body: { acme_title: "v2" },
      });
      const current = await patched.json<AcmeContact>();
      const res = await acme(`/v1/contacts/${created.id}`, {
        token,
        method,
        body: body(created.acme_email),
        headers: { "if-match": '"1"' },
      });
      await expectAcmeError(res, 412, "version_mismatch");
      expect((await read(token, created.id)).contact).toEqual(current);
    },
  );

  it.each(writes)("%s with If-Match: * applies to whatever version exists", async (method, body) => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    await acme(`/v1/contacts/${created.id}`, { token, method: "PATCH", body: { acme_title: "v2" } });
    const res = await acme(`/v1/contacts/${created.id}`, {
      token,
      method,
      body: body(created.acme_email),
      headers: { "if-match": "*" },
    });
    expect(res.status).toBe(method === "DELETE" ? 204 : 200);
    expect(res.headers.get("etag")).toBe('"3"');
  });

  it("applies when the current version is one of several listed", async () => {
    const { token } = await signedIn();
    const created = await createContact(token, fullContact());
    const res = await acme(`/v1/contacts/${created.id}`, {
      token,
      method: "PATCH",
      body: { acme_title: "x" },
      headers: { "if-match": '"7", "1"' },
    });
    expect(res.status).toBe(200);
  });

  // W/"1", "one" and "1", (an empty list element, which RFC 9110 5.6.1 accepts) are well-formed:
  // see conditional-requests.test.ts for their 412 and 200.
  it.each([["1"], ['w/"1"'], ['"1'], ['"1" "2"'], ['*, "1"']])(
    "rejects the malformed If-Match %s with 400 and changes nothing",
    async (ifMatch) => {
      const { token } = await signedIn();
      const created = await createContact(token, fullContact());
      const res = await acme(`/v1/contacts/${created.id}`, {
        token,
        method: "PATCH",
        body: { acme_title: "x" },
        headers: { "if-match": ifMatch },
      });
      await expectAcmeError(res, 400, "precondition_invalid");
      expect((await read(token, created.id)).contact).toEqual(created);
    },
  );
});

describe("account isolation", () => {
  it("hides one account's contact from another: 404 on every verb, absent from lists and filters", async () => {
    const owner = await signedIn();
    const intruder = await signedIn();
    const contact = await createContact(owner.token, fullContact());
    const path = `/v1/contacts/${contact.id}`;
    const token = intruder.token;

    await expectAcmeError(await acme(path, { token }), 404, "not_found");
    await expectAcmeError(await acme(`${path}?include_deleted=true`, { token }), 404, "not_found");
    await expectAcmeError(
      await acme(path, { token, method: "PUT", body: { acme_email: uniqueEmail() } }),
      404,
      "not_found",
    );
    await expectAcmeError(
      await acme(path, { token, method: "PATCH", body: { acme_title: "pwned" } }),
      404,
      "not_found",
    );
    await expectAcmeError(
      await acme(path, { token, method: "DELETE", headers: { "if-match": "*" } }),
      404,
      "not_found",
    );
    expect(await listIds(token, "&include_deleted=true")).toEqual([]);
    expect(await listIds(token, `&email=${encodeURIComponent(contact.acme_email)}`)).toEqual([]);

    // The owner still sees it untouched.
    expect((await read(owner.token, contact.id)).contact).toEqual(contact);
    expect(await listIds(owner.token)).toEqual([contact.id]);
  });
});

describe("unknown routes under /acme", () => {
  it.each([
    ["GET", "/nope", false, 404, "not_found"],
    ["GET", "/v1/nope", true, 404, "not_found"],
    // The path exists, the method does not: 405 (see methods-and-sizes.test.ts), still JSON.
    ["POST", "/v1/contacts/ct_00000000000000000000000000", true, 405, "method_not_allowed"],
    ["GET", "/v2/contacts", false, 404, "not_found"],
  ] as const)("%s %s answers %i %s as JSON, never HTML", async (method, path, withToken, status, code) => {
    const { token } = await signedIn();
    const res = await acme(path, {
      method,
      ...(withToken ? { token } : {}),
      headers: { accept: "text/html" },
    });
    await expectAcmeError(res, status, code);
  });
});
