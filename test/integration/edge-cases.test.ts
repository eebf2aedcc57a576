import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { QUEUE_MAX_BODY_BYTES } from "../../src/lib/queue-limits.ts";
import { acme, tokenFor, uniqueEmail } from "../acme/helpers.ts";
import {
  admin,
  api,
  BASE,
  type Contact,
  createContact,
  expectProblem,
  newConnection,
  person,
  type TestConnection,
} from "./helpers.ts";

let conn: TestConnection;
let key: string;

beforeAll(async () => {
  conn = await newConnection();
  key = conn.apiKey;
});

/** A contact made at Acme directly with only an email and a company (no names). */
async function namelessAtAcme(): Promise<string> {
  const token = await tokenFor(conn.acmeClient);
  const res = await acme("/v1/contacts", {
    token,
    method: "POST",
    body: { acme_email: uniqueEmail("nameless"), acme_company: "Analytical Engines" },
  });
  expect(res.status).toBe(201);
  return (await res.json<{ id: string }>()).id;
}

describe("the round-trip law: whatever a GET returns, a PUT accepts", () => {
  it.each(["/api/v1/contacts", "/api/contacts"])(
    "%s/{id}: a contact made at Acme without names reads with null names and PUTs back unchanged",
    async (base) => {
      const id = await namelessAtAcme();
      const read = await api(`${base}/${id}`, { key });
      expect(read.status).toBe(200);
      const body = await read.json<Contact>();
      expect(body).toMatchObject({ firstName: null, lastName: null, company: "Analytical Engines" });
      const put = await api(`${base}/${id}`, { key, method: "PUT", body });
      expect(put.status).toBe(200);
      // Nothing changed, so Acme keeps the version.
      expect(await put.json()).toEqual(body);
    },
  );

  it("an id in the body naming another contact is 400 naming id, and nothing changes", async () => {
    const a = await createContact(key);
    const b = await createContact(key);
    for (const base of ["/api/v1/contacts", "/api/contacts"]) {
      const res = await api(`${base}/${a.id}`, { key, method: "PUT", body: { ...a, id: b.id, title: "x" } });
      const problem = await expectProblem(res, 400, "validation_failed");
      expect(problem.errors?.map((e) => e.field)).toEqual(["id"]);
    }
    const after = await api(`/api/v1/contacts/${a.id}`, { key });
    expect(await after.json()).toMatchObject({ version: 1, title: null });
  });

  it("read-only fields of the wrong type are still refused, naming them", async () => {
    const a = await createContact(key);
    const res = await api(`/api/v1/contacts/${a.id}`, {
      key,
      method: "PUT",
      body: { ...a, version: "one", createdAt: 5 },
    });
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(problem.errors?.map((e) => e.field).sort()).toEqual(["createdAt", "version"]);
  });
});

describe("PUT on /api/contacts (the seed's paths) updates the fields it is given; /api/v1 replaces", () => {
  it("the seed's PUT with firstName and email keeps phone, company and title", async () => {
    const made = await createContact(key, person({ phone: "+1 555 0100", company: "Acme", title: "Eng" }));
    const res = await api(`/api/contacts/${made.id}`, {
      key,
      method: "PUT",
      body: { firstName: "Grace", email: made.email },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      firstName: "Grace",
      lastName: made.lastName,
      phone: "+1 555 0100",
      company: "Acme",
      title: "Eng",
      version: 2,
    });
  });

  it("the same body on /api/v1 is a full replace: omitted optional fields become null", async () => {
    const made = await createContact(key, person({ phone: "+1 555 0100", company: "Acme" }));
    const res = await api(`/api/v1/contacts/${made.id}`, {
      key,
      method: "PUT",
      body: { firstName: "Grace", lastName: "Hopper", email: made.email },
    });
    expect(await res.json()).toMatchObject({ firstName: "Grace", phone: null, company: null });
  });

  it("the seed's PUT still refuses unknown fields and bad values, naming them", async () => {
    const made = await createContact(key);
    const res = await api(`/api/contacts/${made.id}`, {
      key,
      method: "PUT",
      body: { firstName: "", nickname: "x" },
    });
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(problem.errors?.map((e) => e.field).sort()).toEqual(["firstName", "nickname"]);
  });
});

describe("If-None-Match on a read (RFC 9110 13.1.2): 304 with the ETag, no body", () => {
  it.each(['"1"', 'W/"1"', '"7", "1"', "*"])("If-None-Match: %s on version 1 is 304", async (value) => {
    const made = await createContact(key);
    const res = await api(`/api/v1/contacts/${made.id}`, { key, headers: { "if-none-match": value } });
    expect(res.status).toBe(304);
    expect(res.headers.get("etag")).toBe('"1"');
    expect(await res.text()).toBe("");
  });

  it("a tag that does not match gives the contact as usual", async () => {
    const made = await createContact(key);
    const res = await api(`/api/v1/contacts/${made.id}`, { key, headers: { "if-none-match": '"2"' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: made.id, version: 1 });
  });

  it("a malformed If-None-Match is 400 naming it; an If-Match that fails on a read is 412", async () => {
    const made = await createContact(key);
    const path = `/api/v1/contacts/${made.id}`;
    const bad = await expectProblem(
      await api(path, { key, headers: { "if-none-match": "1" } }),
      400,
      "precondition_invalid",
    );
    expect(bad.errors?.map((e) => e.field)).toEqual(["If-None-Match"]);
    await expectProblem(await api(path, { key, headers: { "if-match": '"9"' } }), 412, "version_mismatch");
  });

  it("an unknown contact is 404 whatever the preconditions say", async () => {
    await expectProblem(
      await api("/api/v1/contacts/ct_nope", { key, headers: { "if-none-match": "*" } }),
      404,
      "not_found",
    );
  });
});

describe("an oversized body is 413 before any other check", () => {
  const big = "x".repeat(70_000);

  it.each([
    ["without credentials", {}],
    ["with a wrong media type", { "content-type": "text/plain" }],
    ["with a wrong API key", { authorization: "Bearer nope" }],
  ])("POST /api/v1/contacts %s", async (_, headers) => {
    const res = await SELF.fetch(`${BASE}/api/v1/contacts`, { method: "POST", headers, body: big });
    await expectProblem(res, 413, "payload_too_large");
  });

  it("admin and webhook routes too, before their credentials are checked", async () => {
    await expectProblem(
      await admin("/connections", { method: "POST", token: null, body: big }),
      413,
      "payload_too_large",
    );
    // Acme's webhooks are limited by what a queue message holds, not the API's body limit.
    const webhookBody = "x".repeat(QUEUE_MAX_BODY_BYTES + 1);
    const res = await SELF.fetch(`${BASE}/webhooks/acme/${conn.connectionId}`, {
      method: "POST",
      body: webhookBody,
    });
    await expectProblem(res, 413, "payload_too_large");
  });

  it("a body within the limit goes on to the usual checks", async () => {
    const res = await SELF.fetch(`${BASE}/api/v1/contacts`, { method: "POST", body: "{}" });
    await expectProblem(res, 401, "unauthorized");
  });
});

describe("text that is not valid Unicode is refused where it enters", () => {
  it("a query parameter that is not UTF-8 is 400 naming it", async () => {
    for (const query of ["email=%ED%A0%80", "cursor=%FF", "email=100%"]) {
      const res = await api(`/api/v1/contacts?${query}`, { key });
      const problem = await expectProblem(res, 400, "validation_failed");
      expect(problem.errors?.map((e) => e.field)).toEqual([query.split("=")[0]]);
    }
    expect(
      (await api(`/api/v1/contacts?email=${encodeURIComponent("zoë@example.com")}`, { key })).status,
    ).toBe(200);
  });

  it("a connection name with a lone surrogate, or client credentials outside printable ASCII, is 400", async () => {
    const base = { name: "ok", acmeClientId: conn.acmeClient.clientId, acmeClientSecret: "s3cret" };
    for (const [field, value] of [
      ["name", "x\ud800y"],
      ["acmeClientId", "cl\u00e9"],
      ["acmeClientSecret", "line\nbreak"],
    ] as const) {
      const res = await admin("/connections", { method: "POST", body: { ...base, [field]: value } });
      const problem = await expectProblem(res, 400, "validation_failed");
      expect(problem.errors?.map((e) => e.field)).toEqual([field]);
    }
  });
});
