import { describe, expect, it } from "vitest";
import { acme, createContact, detailFields, expectAcmeError, signedIn, uniqueEmail } from "./helpers.ts";

describe("the round-trip law at Acme: whatever a GET returns, a PUT accepts", () => {
  it("a contact without names PUTs back as it was read, and nothing changes", async () => {
    const { token } = await signedIn();
    const made = await createContact(token, {
      acme_email: uniqueEmail(),
      acme_company: "Analytical Engines",
    });
    const read = await acme(`/v1/contacts/${made.id}`, { token });
    const body = await read.json<Record<string, unknown>>();
    expect(body).toMatchObject({ acme_first_name: null, acme_last_name: null, acme_deleted_at: null });
    const put = await acme(`/v1/contacts/${made.id}`, { token, method: "PUT", body });
    expect(put.status).toBe(200);
    expect(await put.json()).toEqual(body);
  });

  it("a contact with custom values, one of an archived property, PUTs back as it was read", async () => {
    const { token } = await signedIn();
    for (const property of [
      { name: "tier", label: "Tier", type: "enumeration", options: ["silver", "gold"] },
      { name: "renewal_date", label: "Renewal", type: "date" },
      { name: "legacy_id", label: "Legacy id", type: "number" },
    ]) {
      expect((await acme("/v1/properties", { token, method: "POST", body: property })).status).toBe(201);
    }
    const made = await createContact(token, {
      acme_email: uniqueEmail(),
      acme_custom: { tier: "gold", renewal_date: "2026-09-30", legacy_id: 4711 },
    });
    expect((await acme("/v1/properties/legacy_id", { token, method: "DELETE" })).status).toBe(204);
    const body = await (await acme(`/v1/contacts/${made.id}`, { token })).json<Record<string, unknown>>();
    expect(body.acme_custom).toEqual({ legacy_id: 4711, renewal_date: "2026-09-30", tier: "gold" });
    const put = await acme(`/v1/contacts/${made.id}`, { token, method: "PUT", body });
    expect(put.status).toBe(200);
    expect(put.headers.get("etag")).toBe('"1"');
    expect(await put.json()).toEqual(body);
  });

  it("read-only fields are ignored: a changed version or timestamp in the body changes nothing", async () => {
    const { token } = await signedIn();
    const made = await createContact(token, { acme_email: uniqueEmail() });
    const put = await acme(`/v1/contacts/${made.id}`, {
      token,
      method: "PUT",
      body: {
        ...made,
        acme_title: "Countess",
        acme_version: 99,
        acme_created_at: "2000-01-01T00:00:00.000Z",
      },
    });
    expect(await put.json()).toMatchObject({
      acme_title: "Countess",
      acme_version: 2,
      acme_created_at: made.acme_created_at,
    });
  });

  it("an id naming another contact is 400 naming id, and nothing changes", async () => {
    const { token } = await signedIn();
    const a = await createContact(token, { acme_email: uniqueEmail() });
    const b = await createContact(token, { acme_email: uniqueEmail() });
    const res = await acme(`/v1/contacts/${a.id}`, {
      token,
      method: "PUT",
      body: { ...a, id: b.id, acme_title: "x" },
    });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual(["id"]);
    expect(await (await acme(`/v1/contacts/${a.id}`, { token })).json()).toMatchObject({ acme_version: 1 });
  });

  it("read-only fields of the wrong type, and unknown fields, are still refused", async () => {
    const { token } = await signedIn();
    const a = await createContact(token, { acme_email: uniqueEmail() });
    const res = await acme(`/v1/contacts/${a.id}`, {
      token,
      method: "PUT",
      body: { ...a, acme_version: "two", nickname: "x" },
    });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual([
      "acme_version",
      "nickname",
    ]);
  });
});
