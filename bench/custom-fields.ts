// The set-up of the custom-field read rows: the bench account given CUSTOM_FIELDS properties of
// every type, a contact holding a value in each, and a second connection to the account that maps
// them all (the first connection maps none, so its rows stay the plain ones).
import { createAcmeBridgeAdminClient, createAcmeBridgeClient } from "../client/index.ts";
import { expectData, json, post, type Setup } from "./setup.ts";

/** Custom fields mapped on the contact of the custom-field rows. */
export const CUSTOM_FIELDS = 20;

const TYPES = ["string", "number", "boolean", "date", "enumeration"] as const;

/** What the custom-field rows read: a connection mapping CUSTOM_FIELDS fields, and a contact with a value in each. */
export interface CustomFieldsSetup {
  apiKey: string;
  contactId: string;
}

function sampleValue(type: (typeof TYPES)[number], i: number): string | number | boolean {
  switch (type) {
    case "string":
      return `value ${i} of a custom property, about as long as a real one`;
    case "number":
      return i * 7.5;
    case "boolean":
      return i % 2 === 0;
    case "date":
      return `2026-0${1 + (i % 9)}-1${i % 10}`;
    case "enumeration":
      return "gold";
  }
}

export async function customFieldsSetUp(
  base: string,
  vars: Record<string, string>,
  setup: Setup,
): Promise<CustomFieldsSetup> {
  const custom: Record<string, string | number | boolean> = {};
  const customFields: Record<string, { remote: string }> = {};
  for (let i = 0; i < CUSTOM_FIELDS; i++) {
    const type = TYPES[i % TYPES.length] ?? "string";
    const name = `bench_${type}_${i}`;
    await json(
      await post(`${base}/acme/v1/properties`, setup.acmeToken, {
        name,
        label: `Bench ${type} ${i}`,
        type,
        ...(type === "enumeration" ? { options: ["bronze", "silver", "gold"] } : {}),
      }),
      201,
    );
    custom[name] = sampleValue(type, i);
    customFields[`bench${i}`] = { remote: name };
  }
  const contact = await json<{ id: string }>(
    await post(`${base}/acme/v1/contacts`, setup.acmeToken, {
      acme_first_name: "Custom",
      acme_last_name: "Fields",
      acme_email: `bench-custom-${crypto.randomUUID()}@example.com`,
      acme_custom: custom,
    }),
    201,
  );
  const bridge = createAcmeBridgeAdminClient({ baseUrl: base, adminToken: vars.ADMIN_TOKEN ?? "" });
  const connection = expectData(
    await bridge.POST("/api/v1/admin/connections", {
      body: {
        name: "bench custom fields",
        acmeClientId: setup.acmeClientId,
        acmeClientSecret: setup.acmeClientSecret,
      },
    }),
    201,
  );
  const key = expectData(
    await bridge.POST("/api/v1/admin/connections/{id}/api-keys", { params: { path: { id: connection.id } } }),
    201,
  );
  const api = createAcmeBridgeClient({ baseUrl: base, apiKey: key.apiKey });
  expectData(await api.PUT("/api/v1/field-mappings", { body: { customFields } }), 200);
  const read = expectData(
    await api.GET("/api/v1/contacts/{id}", { params: { path: { id: contact.id } } }),
    200,
  );
  if (Object.values(read.customFields).filter((v) => v !== null).length !== CUSTOM_FIELDS) {
    throw new Error(`the custom-field contact reads ${JSON.stringify(read.customFields)}`);
  }
  return { apiKey: key.apiKey, contactId: contact.id };
}
