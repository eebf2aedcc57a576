import { z } from "zod";
import { type CustomFieldMapping, contactShape, MAX_CUSTOM_STRING_LENGTH } from "../contacts/mapping.ts";

/** The value schema of a mapped field, by the Acme property's type (null: no value). */
function customValueSchema(field: CustomFieldMapping): z.ZodType {
  const described = { title: field.label, description: `Acme property \`${field.remote}\` (${field.type})` };
  switch (field.type) {
    case "string":
      return z.string().max(MAX_CUSTOM_STRING_LENGTH).nullable().meta(described);
    case "number":
      return z.number().nullable().meta(described);
    case "boolean":
      return z.boolean().nullable().meta(described);
    case "date":
      return z.iso.date().nullable().meta(described);
    case "enumeration":
      return (
        field.options && field.options.length > 0
          ? z.enum(field.options as [string, ...string[]])
          : z.string()
      )
        .nullable()
        .meta(described);
  }
}

/**
 * The JSON Schema (draft 2020-12) of a connection's contact as the API returns it: the contact's
 * own fields, and `customFields` with exactly the mapped fields, each typed by its Acme property
 * (value or null). A client validates what it sends against it.
 */
export function contactJsonSchema(mapping: readonly CustomFieldMapping[]): Record<string, unknown> {
  const customFields = z.strictObject(
    Object.fromEntries(mapping.map((m) => [m.apiName, customValueSchema(m)])),
  );
  const contact = z.object({ ...contactShape("api"), customFields }).meta({
    title: "Contact",
    description: "A contact of this connection, custom fields as mapped now (GET /api/v1/field-mappings)",
  });
  return z.toJSONSchema(contact, { target: "draft-2020-12" }) as Record<string, unknown>;
}
