import { describe, expect, it } from "vitest";
import {
  createAcmeBridgeAdminClient,
  createAcmeBridgeClient,
  type FieldMappings,
} from "../../client/index.ts";
import { acmeToken, admin, base, eventually, newConnection, post } from "./helpers.ts";

// Issue 25's end-to-end case over HTTP (wrangler dev, real local queues): a property created at
// Acme, mapped through the API, written through customFields, read back, seen in the feed with
// its change, imported from a CSV column, and absent for a second connection to the same account;
// and the bad inputs, each refused naming the field with nothing written at Acme.

describe("custom fields over HTTP (wrangler dev)", () => {
  it("a property made at Acme is mapped, written, read, seen in the feed, imported, and invisible to another connection", async () => {
    const connection = await newConnection();
    await post(`/api/v1/admin/connections/${connection.connectionId}/webhook-subscription`, admin, {});
    const acme = {
      authorization: `Bearer ${await acmeToken(connection)}`,
      "content-type": "application/json",
    };
    const property = await fetch(`${base}/acme/v1/properties`, {
      method: "POST",
      headers: acme,
      body: JSON.stringify({
        name: "contract_tier",
        label: "Contract tier",
        type: "enumeration",
        options: ["silver", "gold"],
      }),
    });
    expect(property.status).toBe(201);
    await fetch(`${base}/acme/v1/properties`, {
      method: "POST",
      headers: acme,
      body: JSON.stringify({ name: "old_code", label: "Old code", type: "string" }),
    });
    expect(
      (await fetch(`${base}/acme/v1/properties/old_code`, { method: "DELETE", headers: acme })).status,
    ).toBe(204);

    const api = createAcmeBridgeClient({ baseUrl: base, apiKey: connection.apiKey });
    const remote = await api.GET("/api/v1/remote-fields");
    expect(remote.data?.data.map((f) => [f.name, f.archived])).toEqual(
      expect.arrayContaining([
        ["contract_tier", false],
        ["old_code", true],
      ]),
    );
    const mapping: FieldMappings = { customFields: { tier: { remote: "contract_tier" } } };
    expect((await api.PUT("/api/v1/field-mappings", { body: mapping })).data).toEqual(mapping);

    const email = `cf.${crypto.randomUUID()}@example.com`;
    const created = await api.POST("/api/v1/contacts", {
      body: { firstName: "Ada", lastName: "Lovelace", email, customFields: { tier: "gold" } },
    });
    const contact = created.data;
    if (!contact) throw new Error(`create failed: ${JSON.stringify(created.error)}`);
    expect(contact.customFields).toEqual({ tier: "gold" });
    const read = await api.GET("/api/v1/contacts/{id}", { params: { path: { id: contact.id } } });
    expect(read.data?.customFields).toEqual({ tier: "gold" });

    const patched = await api.PATCH("/api/v1/contacts/{id}", {
      params: { path: { id: contact.id } },
      body: { customFields: { tier: "silver" } },
    });
    expect(patched.data?.customFields).toEqual({ tier: "silver" });
    const change = await eventually(async () => {
      const page = await api.GET("/api/v1/events", { params: { query: { after: 0, limit: 500 } } });
      return page.data?.data.find(
        (e) => e.contact.id === contact.id && e.contact.version === patched.data?.version,
      );
    });
    expect(change.contact.customFields).toEqual({ tier: "silver" });
    expect(change.changes).toEqual({ "customFields.tier": { from: "gold", to: "silver" } });

    const imported = `cf.import.${crypto.randomUUID()}@example.com`;
    const started = await fetch(`${base}/api/v1/imports`, {
      method: "POST",
      headers: { authorization: `Bearer ${connection.apiKey}`, "content-type": "text/csv" },
      body: `email,firstName,lastName,customFields.tier\n${imported},Grace,Hopper,gold\n`,
    });
    expect(started.status).toBe(202);
    const { id: jobId } = (await started.json()) as { id: string };
    const job = await eventually(async () => {
      const res = await api.GET("/api/v1/jobs/{id}", { params: { path: { id: jobId } } });
      return res.data && ["succeeded", "failed"].includes(res.data.status) ? res.data : undefined;
    });
    expect(job).toMatchObject({ status: "succeeded", succeeded: 1 });
    const importedContact = await api.GET("/api/v1/contacts", { params: { query: { email: imported } } });
    expect(importedContact.data?.data[0]?.customFields).toEqual({ tier: "gold" });

    // A second connection to the same Acme account maps nothing: it sees none of the first's fields.
    const bridge = createAcmeBridgeAdminClient({ baseUrl: base, adminToken: admin });
    const second = await bridge.POST("/api/v1/admin/connections", {
      body: {
        name: "e2e second",
        acmeClientId: connection.acmeClientId,
        acmeClientSecret: connection.acmeClientSecret,
      },
    });
    if (!second.data) throw new Error("no second connection");
    const secondKey = await bridge.POST("/api/v1/admin/connections/{id}/api-keys", {
      params: { path: { id: second.data.id } },
    });
    const other = createAcmeBridgeClient({ baseUrl: base, apiKey: secondKey.data?.apiKey ?? "" });
    for (let i = 0; i < 2; i++) {
      const seen = await other.GET("/api/v1/contacts/{id}", { params: { path: { id: contact.id } } });
      expect(seen.data?.customFields).toEqual({});
      expect(JSON.stringify(seen.data)).not.toContain("silver");
    }
    const otherList = await other.GET("/api/v1/contacts", { params: { query: { email } } });
    expect(otherList.data?.data[0]?.customFields).toEqual({});
  });

  it("refuses a wrong type, an unmapped name, an unknown or archived property and a standard field's name, naming the field, writing nothing at Acme", async () => {
    const connection = await newConnection();
    const acme = {
      authorization: `Bearer ${await acmeToken(connection)}`,
      "content-type": "application/json",
    };
    for (const body of [
      { name: "seats", label: "Seats", type: "number" },
      { name: "old_code", label: "Old code", type: "string" },
    ]) {
      expect(
        (
          await fetch(`${base}/acme/v1/properties`, {
            method: "POST",
            headers: acme,
            body: JSON.stringify(body),
          })
        ).status,
      ).toBe(201);
    }
    await fetch(`${base}/acme/v1/properties/old_code`, { method: "DELETE", headers: acme });
    const api = createAcmeBridgeClient({ baseUrl: base, apiKey: connection.apiKey });

    const unknown = await api.PUT("/api/v1/field-mappings", {
      body: { customFields: { seats: { remote: "seats" }, shoeSize: { remote: "shoe_size" } } },
    });
    expect(unknown.error).toMatchObject({ status: 422, code: "unknown_remote_field" });
    expect(unknown.error?.errors?.map((e) => e.field)).toEqual(["customFields.shoeSize.remote"]);
    const archived = await api.PUT("/api/v1/field-mappings", {
      body: { customFields: { oldCode: { remote: "old_code" } } },
    });
    expect(archived.error).toMatchObject({ status: 422, code: "unknown_remote_field" });
    const collision = await api.PUT("/api/v1/field-mappings", {
      body: { customFields: { email: { remote: "seats" } } },
    });
    expect(collision.error).toMatchObject({ status: 400, code: "validation_failed" });
    expect(collision.error?.errors?.map((e) => e.field)).toEqual(["customFields.email"]);
    expect((await api.GET("/api/v1/field-mappings")).data).toEqual({ customFields: {} });

    await api.PUT("/api/v1/field-mappings", { body: { customFields: { seats: { remote: "seats" } } } });
    const created = await api.POST("/api/v1/contacts", {
      body: {
        firstName: "A",
        lastName: "B",
        email: `cf.bad.${crypto.randomUUID()}@example.com`,
        customFields: { seats: 2 },
      },
    });
    const contact = created.data;
    if (!contact) throw new Error("create failed");
    for (const [customFields, field] of [
      [{ seats: "many" }, "customFields.seats"],
      [{ shoeSize: 42 }, "customFields.shoeSize"],
    ] as const) {
      const refused = await api.PATCH("/api/v1/contacts/{id}", {
        params: { path: { id: contact.id } },
        body: { customFields },
      });
      expect(refused.error).toMatchObject({ status: 400, code: "validation_failed" });
      expect(refused.error?.errors?.map((e) => e.field)).toEqual([field]);
    }
    const atAcme = await fetch(`${base}/acme/v1/contacts/${contact.id}`, { headers: acme });
    expect(await atAcme.json()).toMatchObject({ acme_version: contact.version, acme_custom: { seats: 2 } });
  });
});
