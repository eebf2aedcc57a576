import { z } from "@hono/zod-openapi";
import { refuseProtoKey } from "../../lib/proto-key.ts";
import { CUSTOM_FIELD_NAME, CUSTOM_FIELD_TYPES } from "../contacts/mapping.ts";

/** The most custom fields a connection maps: an Acme account has at most 100 properties, each mapped once. */
export const MAX_MAPPED_FIELDS = 100;

const NAME_RULE = "a lowercase letter, then up to 63 letters or digits";

const REMOTE_FIELD_EXAMPLE = {
  name: "contract_tier",
  label: "Contract tier",
  type: "enumeration" as const,
  options: ["bronze", "silver", "gold"],
  archived: false,
};

/** One of the connection's Acme properties, as discovery lists it. */
export const RemoteFieldSchema = z
  .object({
    name: z.string().openapi({ description: "The property's name at Acme: what a mapping's `remote` names" }),
    label: z.string(),
    type: z.enum(CUSTOM_FIELD_TYPES).openapi({
      description: "`date`: YYYY-MM-DD; `enumeration`: one of `options`",
    }),
    options: z.array(z.string()).optional().openapi({ description: "Only on an enumeration: its values" }),
    archived: z
      .boolean()
      .openapi({ description: "An archived property cannot be mapped; it takes no new values" }),
  })
  .openapi("RemoteField", { example: REMOTE_FIELD_EXAMPLE });

export const RemoteFieldListSchema = z
  .object({ data: z.array(RemoteFieldSchema) })
  .openapi("RemoteFieldList", {
    example: {
      data: [REMOTE_FIELD_EXAMPLE, { name: "seats", label: "Seats", type: "number", archived: true }],
    },
  });

const MAPPINGS_EXAMPLE = {
  customFields: { contractTier: { remote: "contract_tier" }, renewalDate: { remote: "renewal_date" } },
};

const customFieldMapping = z
  .strictObject({
    remote: z.string().min(1).max(100).openapi({
      example: "contract_tier",
      description: "An Acme property of the connection's account (GET /api/v1/remote-fields), not archived",
    }),
  })
  .openapi("CustomFieldMapping", { example: { remote: "contract_tier" } });

const customFieldName = z
  .string()
  .regex(CUSTOM_FIELD_NAME, `must be ${NAME_RULE}`)
  .openapi({ example: "contractTier" });

/**
 * The connection's custom fields, by API name. `PUT` replaces the whole mapping; `GET` returns
 * it as stored, and what it returns is accepted back.
 */
export const FieldMappingsSchema = z
  .strictObject({
    customFields: refuseProtoKey(
      z
        .record(customFieldName, customFieldMapping, {
          error: (issue) =>
            issue.code === "invalid_key" ? `a custom field's name must be ${NAME_RULE}` : undefined,
        })
        .refine((fields) => Object.keys(fields).length <= MAX_MAPPED_FIELDS, {
          message: `at most ${MAX_MAPPED_FIELDS} custom fields`,
        }),
      `a custom field's name must be ${NAME_RULE}`,
    ).openapi({
      description:
        `Each custom field by its API name (${NAME_RULE}; not one of the contact's own fields), mapped to ` +
        `one Acme property; at most ${MAX_MAPPED_FIELDS}, each property mapped once. \`{}\` maps none.`,
      maxProperties: MAX_MAPPED_FIELDS,
      examples: [MAPPINGS_EXAMPLE.customFields],
    }),
  })
  .openapi("FieldMappings", { example: MAPPINGS_EXAMPLE });

export type FieldMappingsInput = z.infer<typeof FieldMappingsSchema>;

const CONTACT_JSON_SCHEMA_EXAMPLE = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "Contact",
  type: "object",
  properties: {
    id: { type: "string" },
    customFields: {
      type: "object",
      properties: { contractTier: { anyOf: [{ type: "string", enum: ["gold"] }, { type: "null" }] } },
    },
  },
  required: ["id", "customFields"],
};

/** A JSON Schema (draft 2020-12) document. */
export const ContactJsonSchemaSchema = z
  .looseObject({
    $schema: z.string(),
    title: z.string(),
    type: z.literal("object"),
    properties: z.record(z.string(), z.unknown()),
    required: z.array(z.string()),
  })
  .openapi("ContactJsonSchema", {
    description:
      "The JSON Schema (draft 2020-12) of this connection's contact as the API returns it, with " +
      "`customFields` typed by the mapped Acme properties (each value or null).",
    example: CONTACT_JSON_SCHEMA_EXAMPLE,
  });
