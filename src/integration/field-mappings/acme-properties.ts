import { z } from "zod";
import type { AcmeClient } from "../acme-client/acme-client.ts";
import { expectAcmeStatus } from "../acme-client/acme-errors.ts";
import { parseAcme } from "../contacts/acme-contact-schema.ts";
import { CUSTOM_FIELD_TYPES } from "../contacts/mapping.ts";

// The integration's own reading of Acme's custom-property list (it never imports the mock's code):
// `GET /v1/properties`, every property of the account, archived ones included, in one response.

export const AcmePropertySchema = z.looseObject({
  name: z.string(),
  label: z.string(),
  type: z.enum(CUSTOM_FIELD_TYPES),
  options: z.array(z.string()).optional(),
  archived: z.boolean(),
});

export const AcmePropertyListSchema = z.looseObject({ results: z.array(AcmePropertySchema) });

export type AcmeProperty = z.infer<typeof AcmePropertySchema>;

/** The connection's Acme properties, live from Acme (one call). */
export async function acmeProperties(client: AcmeClient): Promise<AcmeProperty[]> {
  const response = await client.send({ method: "GET", path: "/v1/properties" });
  return parseAcme(AcmePropertyListSchema, expectAcmeStatus(response, [200]).body).results;
}
