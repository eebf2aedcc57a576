import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AcmeContact } from "../../src/acme/contacts/schemas.ts";
import { ACME, acme, createContact, expectAcmeError, signedIn, uniqueEmail } from "./helpers.ts";

// Text that is not valid Unicode would change on its way into D1 (a lone surrogate becomes
// U+FFFD), so Acme refuses it where it enters: 400 naming the field, nothing stored.

const LONE = "\\ud800"; // as it appears in JSON text: a JSON escape, not a character

/** A JSON body whose `field` holds a lone surrogate; everything else is valid. */
function bodyWith(base: Record<string, unknown>, field: string): string {
  return JSON.stringify({ ...base, [field]: "PLACEHOLDER" }).replace('"PLACEHOLDER"', `"x${LONE}y"`);
}

async function expectIllFormed(res: Response, field: string) {
  const body = await expectAcmeError(res, 400, "validation_failed");
  expect(body.error.details).toEqual([{ field, message: expect.stringContaining("Unicode") }]);
}

const admin = { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` };

describe("JSON bodies with lone surrogates", () => {
  const contactFields = [
    "acme_first_name",
    "acme_last_name",
    "acme_email",
    "acme_phone",
    "acme_company",
    "acme_title",
    "acme_notes",
  ];

  it.each(contactFields)("POST /v1/contacts refuses one in %s, and stores nothing", async (field) => {
    const { token } = await signedIn();
    const res = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: bodyWith({ acme_email: uniqueEmail() }, field),
    });
    await expectIllFormed(res, field);
    expect(await (await acme("/v1/contacts", { token })).json()).toEqual({ results: [] });
  });

  it("refuses the issue's example and keeps the contact as it was on PUT and PATCH", async () => {
    const { token } = await signedIn();
    const contact = await createContact(token, { acme_email: uniqueEmail(), acme_first_name: "Ada" });
    const path = `/v1/contacts/${contact.id}`;
    for (const method of ["PUT", "PATCH"]) {
      const body = bodyWith(method === "PUT" ? { acme_email: contact.acme_email } : {}, "acme_first_name");
      await expectIllFormed(await acme(path, { token, method, body }), "acme_first_name");
    }
    const read = await acme(path, { token });
    expect(read.headers.get("etag")).toBe('"1"');
    expect(await read.json()).toEqual(contact);
  });

  it("names an unknown field, a nested element and a key, not only the known fields", async () => {
    const { token } = await signedIn({ scopes: ["contacts.write", "webhooks.manage"] });
    await expectIllFormed(
      await acme("/v1/contacts", {
        token,
        method: "POST",
        body: bodyWith({ acme_email: uniqueEmail() }, "extra"),
      }),
      "extra",
    );
    const events = `{"url":"https://receiver.example.com/h","events":["contact.created","${LONE}"]}`;
    await expectIllFormed(await acme("/v1/webhooks", { token, method: "POST", body: events }), "events.1");
    const key = `{"acme_email":"${uniqueEmail()}","${LONE}":"v"}`;
    await expectIllFormed(await acme("/v1/contacts", { token, method: "POST", body: key }), "body");
  });

  it("refuses one in webhook subscriptions (create and update)", async () => {
    const { token } = await signedIn({ scopes: ["webhooks.manage"] });
    const base = { url: "https://receiver.example.com/h", events: ["contact.created"] };
    for (const field of ["url", "description"]) {
      await expectIllFormed(
        await acme("/v1/webhooks", { token, method: "POST", body: bodyWith(base, field) }),
        field,
      );
    }
    const created = await (await acme("/v1/webhooks", { token, method: "POST", body: base })).json<{
      id: string;
    }>();
    await expectIllFormed(
      await acme(`/v1/webhooks/${created.id}`, { token, method: "PATCH", body: bodyWith({}, "description") }),
      "description",
    );
  });

  it("refuses one on the admin routes (clients, rate limits, faults)", async () => {
    await expectIllFormed(
      await acme("/admin/clients", { method: "POST", headers: admin, body: bodyWith({}, "name") }),
      "name",
    );
    const { client } = await signedIn();
    await expectIllFormed(
      await acme(`/admin/clients/${client.clientId}/rate-limits`, {
        method: "PUT",
        headers: admin,
        body: `{"${LONE}":null}`,
      }),
      "body",
    );
    await expectIllFormed(
      await acme("/admin/faults", { method: "PUT", headers: admin, body: `{"methods":["${LONE}"]}` }),
      "methods.0",
    );
  });

  it("refuses bytes that are not UTF-8 with 400 invalid_json instead of storing U+FFFD", async () => {
    const { token } = await signedIn();
    const prefix = new TextEncoder().encode(`{"acme_email":"${uniqueEmail()}","acme_first_name":"x`);
    const body = new Uint8Array([...prefix, 0xff, 0x22, 0x7d]); // x<FF>"}
    const res = await SELF.fetch(`${ACME}/v1/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body,
    });
    await expectAcmeError(res, 400, "invalid_json");
    expect(await (await acme("/v1/contacts", { token })).json()).toEqual({ results: [] });
  });

  it("keeps valid text of every plane exactly as sent, escaped or not", async () => {
    const { token } = await signedIn();
    const name = "Zoë 😀 \u{10FFFD} 李";
    const escaped = `{"acme_email":"${uniqueEmail()}","acme_first_name":"\\ud83d\\ude00 pair","acme_last_name":${JSON.stringify(name)}}`;
    const res = await acme("/v1/contacts", { token, method: "POST", body: escaped });
    expect(res.status).toBe(201);
    const created = await res.json<AcmeContact>();
    const read = await (await acme(`/v1/contacts/${created.id}`, { token })).json<AcmeContact>();
    expect(read.acme_first_name).toBe("😀 pair");
    expect(read.acme_last_name).toBe(name);
  });
});

describe("query strings that are not UTF-8", () => {
  it.each([
    ["/v1/contacts?email=%ED%A0%80", "email"],
    ["/v1/contacts?limit=5&after=%FF", "after"],
    ["/v1/contacts/ct_00000000000000000000000000?include_deleted=%C3", "include_deleted"],
    ["/v1/webhooks?x=%ED%B0%80", "x"],
  ])("GET %s is 400 naming %s", async (path, field) => {
    const { token } = await signedIn();
    const res = await acme(path, { token });
    const body = await expectAcmeError(res, 400, "validation_failed");
    expect(body.error.details).toEqual([{ field, message: expect.stringContaining("UTF-8") }]);
  });

  it("reads a query with non-ASCII text percent-encoded as UTF-8 as that text", async () => {
    const { token } = await signedIn();
    const contact = await createContact(token, { acme_email: uniqueEmail() });
    const hit = await acme(`/v1/contacts?email=${encodeURIComponent(contact.acme_email)}`, { token });
    expect((await hit.json<{ results: AcmeContact[] }>()).results.map((c) => c.id)).toEqual([contact.id]);
    const miss = await acme(`/v1/contacts?email=${encodeURIComponent("zoë@example.com")}`, { token });
    expect(miss.status).toBe(200);
    expect(await miss.json()).toEqual({ results: [] });
  });
});

describe("the token endpoint", () => {
  const post = (contentType: string, body: string) =>
    SELF.fetch(`${ACME}/oauth/token`, { method: "POST", headers: { "content-type": contentType }, body });

  it.each([
    [
      "application/x-www-form-urlencoded",
      "grant_type=client_credentials&client_id=%ED%A0%80&client_secret=s",
    ],
    ["application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=a&client_secret=%FF"],
    ["application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=a&client_secret=100%"],
    ["application/json", `{"grant_type":"client_credentials","client_id":"${LONE}","client_secret":"s"}`],
  ])("refuses %s %s with 400 invalid_request (RFC 6749 5.2)", async (type, body) => {
    const res = await post(type, body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "invalid_request" });
  });

  it("still reads a well-formed form whose parameters are percent-encoded UTF-8", async () => {
    const { client } = await signedIn();
    const form = `grant_type=client_credentials&client_id=${encodeURIComponent(client.clientId)}&client_secret=${encodeURIComponent(client.clientSecret)}&scope=contacts.read`;
    const res = await post("application/x-www-form-urlencoded", form);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ token_type: "Bearer", scope: "contacts.read" });
  });

  it("still refuses a repeated parameter, and treats __proto__ as an ordinary (unknown) parameter", async () => {
    const repeated = await post(
      "application/x-www-form-urlencoded",
      "grant_type=client_credentials&grant_type=x",
    );
    expect(await repeated.json()).toMatchObject({ error: "invalid_request" });
    const proto = await post(
      "application/x-www-form-urlencoded",
      "__proto__=x&grant_type=client_credentials",
    );
    expect(proto.status).toBe(401);
    expect(await proto.json()).toMatchObject({ error: "invalid_client" });
  });
});

describe("header values", () => {
  it("compares an If-Match tag holding bytes beyond ASCII (obs-text) and finds no match: 412", async () => {
    const { token } = await signedIn();
    const contact = await createContact(token, { acme_email: uniqueEmail() });
    const res = await acme(`/v1/contacts/${contact.id}`, {
      token,
      method: "PATCH",
      body: { acme_title: "x" },
      headers: { "if-match": '"\u00e91"' },
    });
    await expectAcmeError(res, 412, "version_mismatch");
  });
});
