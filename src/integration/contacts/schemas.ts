import { z } from "@hono/zod-openapi";
import { refuseProtoKey } from "../../lib/proto-key.ts";
import {
  type AcmeCustomValues,
  type ApiField,
  CONTACT_FIELDS,
  type ContactShape,
  contactShape,
  type NullableApiField,
  type RequiredApiField,
  type WritableApiField,
} from "./mapping.ts";

// The contact's schemas, derived from the mapping table: which fields exist, how they read, which
// a client writes and which of those it must send. Only the input rules are written here.

// Rules are no looser than Acme's, so bad input fails here with the API's field names.
// Lone surrogates cannot be stored as UTF-8 (Acme would keep U+FFFD instead): refuse them here.
const WELL_FORMED = "must be well-formed Unicode (no lone surrogates)";
const wellFormed = (s: string) => s.isWellFormed();
const name = z.string().min(1).max(100).refine(wellFormed, WELL_FORMED);
const text = (max: number) => z.string().max(max).refine(wellFormed, WELL_FORMED);

/** The value a client may send for each writable field (optional ones may also be null or left out). */
const INPUT_RULES = {
  firstName: name.openapi({ example: "Ada" }),
  lastName: name.openapi({ example: "Lovelace" }),
  email: z.email().max(254).openapi({ example: "ada@example.com" }),
  phone: z
    .string()
    .max(40)
    // No regex flags: the OpenAPI generator cannot carry them (it wrote "$/i" into the pattern).
    .regex(/^[0-9+()\-.\s/xX]*$/, "may contain only digits, spaces and + ( ) - . / x")
    .openapi({ example: "+44 20 7946 0000" }),
  company: text(200),
  title: text(200),
  notes: text(10_000),
} satisfies Record<WritableApiField, z.ZodType>;

type Rules = typeof INPUT_RULES;
type InputShape = {
  [F in WritableApiField]: F extends RequiredApiField ? Rules[F] : z.ZodOptional<z.ZodNullable<Rules[F]>>;
};

/** A custom field's value as it reads: what its Acme property holds, or null. */
const customValue = z.union([z.string(), z.number(), z.boolean()]).nullable();

const CUSTOM_FIELDS_RULE =
  "By API name (GET /api/v1/field-mappings), each of its Acme property's type (GET " +
  "/api/v1/field-mappings/schema); null clears one. An unmapped name or a wrong type: 400 naming " +
  "`customFields.<name>`.";

/** `customFields` as a write sends it; which names exist and what each takes is the connection's mapping, checked after this. */
const customFieldsInput = refuseProtoKey(
  z.record(z.string(), customValue),
  "not a custom field of this connection (GET /api/v1/field-mappings)",
).openapi({
  description: CUSTOM_FIELDS_RULE,
  // `examples`, not `example`: json-schema-faker (the contract fuzz) takes an `example` beside
  // `additionalProperties` for a property named "example".
  examples: [{ contractTier: "gold", renewalDate: "2026-09-30" }],
});

function inputShape(): InputShape {
  const shape: Partial<Record<WritableApiField, z.ZodType>> = {};
  for (const field of CONTACT_FIELDS) {
    if (!field.writable) continue;
    const rule = INPUT_RULES[field.api];
    shape[field.api] = field.required ? rule : rule.nullable().optional();
  }
  return shape as InputShape;
}

/** Create: every writable field, the required ones present, and custom fields; nothing else. */
export const ContactCreateSchema = z
  .strictObject({ ...inputShape(), customFields: customFieldsInput.optional() })
  .openapi("ContactInput", { example: { firstName: "Ada", lastName: "Lovelace", email: "ada@example.com" } });
/**
 * Merge patch: any writable field; null clears an optional one (a required one cannot be cleared);
 * `customFields` merges per field.
 */
export const ContactPatchSchema = z
  .strictObject({
    ...ContactCreateSchema.partial().shape,
    customFields: customFieldsInput.optional().openapi({
      description: `Merged per field. ${CUSTOM_FIELDS_RULE}`,
    }),
  })
  .openapi("ContactPatch", {
    example: { title: "Countess", phone: null },
  });

/** A contact id as a path names it. */
const CONTACT_ID = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/);

/**
 * The fields a client reads but never sets, as a GET returns them: a replace accepts them back
 * and ignores them (the round-trip law of DESIGN.md), except `id`, which must name the contact:
 * the schema says what it can (an id as the path takes it), the description the rest.
 */
const READ_ONLY_ECHO = {
  ...(Object.fromEntries(
    CONTACT_FIELDS.filter((f) => !f.writable).map((f) => [
      f.api,
      contactShape("api")[f.api].optional().openapi({ description: "Ignored (read-only)" }),
    ]),
  ) as { [F in Exclude<ApiField, WritableApiField>]: z.ZodOptional<ContactShape<"api">[F]> }),
  id: CONTACT_ID.optional().openapi({
    example: "ct_01jd5x8m3q0000000000000000",
    description: "Read-only: may be sent back, but only as the id in the path (another is 400 naming `id`)",
  }),
  version: contactShape("api").version.optional().openapi({
    description: "Ignored: send `If-Match` to write only at a version",
  }),
};

/**
 * A field that reads null (a name of a contact made at Acme without one) may be sent back null:
 * whatever a GET returns, a PUT accepts.
 */
function nullableWhereReadable(shape: InputShape) {
  const out: Record<string, z.ZodType> = { ...shape };
  for (const field of CONTACT_FIELDS) {
    if (field.writable && field.required && field.value === "stringOrNull")
      out[field.api] = INPUT_RULES[field.api].nullable();
  }
  return out as {
    [F in WritableApiField]: F extends RequiredApiField
      ? F extends NullableApiField
        ? z.ZodNullable<Rules[F]>
        : Rules[F]
      : InputShape[F];
  };
}

/**
 * Full replace (`PUT /api/v1/contacts/{id}`): the required fields present (names may be null, as
 * they may read), the optional ones become null when left out, the read-only ones accepted back.
 */
export const ContactReplaceSchema = z
  .strictObject({
    ...nullableWhereReadable(inputShape()),
    customFields: customFieldsInput.optional().openapi({
      description: `Given, replaces them (a mapped field left out becomes null); left out, keeps them. ${CUSTOM_FIELDS_RULE}`,
    }),
    ...READ_ONLY_ECHO,
  })
  .openapi("ContactReplace", {
    description:
      "The whole contact: optional fields left out become null. A contact as GET returned it is " +
      "accepted back: the read-only fields are ignored, but `id`, if sent, must be the path's.",
    example: {
      firstName: "Ada",
      lastName: "Lovelace",
      email: "ada@example.com",
      company: "Analytical Engines",
    },
  });
/**
 * The seed's `PUT /api/contacts/{id}`: updates the fields it is given and keeps the others, and
 * takes back whatever a GET returned, as the full replace does.
 */
export const ContactSeedUpdateSchema = ContactReplaceSchema.partial().openapi("ContactSeedUpdate", {
  description:
    "The fields to change; the others are kept. Read-only fields are accepted back and ignored, but " +
    "`id`, if sent, must be the path's.",
  example: { company: "Analytical Engines" },
});

export type ContactInput = z.infer<typeof ContactCreateSchema>;
export type ContactReplace = z.infer<typeof ContactReplaceSchema>;
export type ContactPatch = z.infer<typeof ContactPatchSchema>;
/** A write's custom fields, by API name (null clears one). */
export type CustomFieldsInput = Record<string, string | number | boolean | null>;
/** What any write sets: the writable fields given (null clears, absent keeps), and custom fields. */
export type ContactFields = Partial<Record<WritableApiField, string | null>> & {
  customFields?: CustomFieldsInput | undefined;
};

/** A contact as the API returns it, for the document's examples. */
export const CONTACT_EXAMPLE = {
  id: "ct_01jd5x8m3q0000000000000000",
  firstName: "Ada",
  lastName: "Lovelace",
  email: "ada@example.com",
  phone: "+44 20 7946 0000",
  company: "Analytical Engines",
  title: null,
  notes: null,
  version: 3,
  createdAt: "2026-01-15T09:30:00.000Z",
  updatedAt: "2026-02-01T16:05:12.000Z",
  customFields: { contractTier: "gold", renewalDate: null },
};

/** The API's contact: every field of the mapping table under its API name, and the connection's custom fields. */
export const ContactSchema = z
  .object({
    ...contactShape("api"),
    customFields: z.record(z.string(), customValue).openapi({
      description:
        "The connection's custom fields (GET /api/v1/field-mappings), every mapped one by its API name, " +
        "null when the contact holds no value; `{}` when the connection maps none.",
      examples: [{ contractTier: "gold", renewalDate: null }],
    }),
  })
  .openapi("Contact", { example: CONTACT_EXAMPLE });

export type Contact = z.infer<typeof ContactSchema>;

/**
 * A contact as the integration keeps it (KV copies, the mirror, the feed): the table's fields,
 * and Acme's custom values raw, by Acme's property names, mapped per connection on the way out
 * (`withCustomFields`). Copies kept before custom fields existed have no `acmeCustom`.
 */
export type StoredContact = Omit<Contact, "customFields"> & { acmeCustom?: AcmeCustomValues };

export const ContactListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
  email: z.string().max(254).optional(),
  updatedSince: z.iso.datetime({ offset: true }).optional(),
  includeDeleted: z
    .enum(["true", "false"])
    .transform((value) => value === "true")
    .optional()
    .openapi({
      description: "`true`: soft-deleted contacts too, each with its `deletedAt` (live ones have none)",
    }),
});

export const ContactListSchema = z
  .object({ data: z.array(ContactSchema), nextCursor: z.string().nullable() })
  .openapi("ContactList", { example: { data: [CONTACT_EXAMPLE], nextCursor: "eyJhZnRlciI6ImN0XzAxIn0" } });

export const ContactIdParamsSchema = z.object({
  id: CONTACT_ID.openapi({ param: { name: "id", in: "path" }, example: "ct_01jd5x8m3q0000000000000000" }),
});
