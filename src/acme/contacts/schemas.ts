import { z } from "@hono/zod-openapi";
import { UNKNOWN_PROPERTY_MESSAGE } from "../properties/custom-values.ts";
import { MAX_CUSTOM_BYTES, MAX_STRING_VALUE_LENGTH } from "../properties/limits.ts";

const text = (max: number) => z.string().max(max);

const CUSTOM_VALUE_RULE = "must be a string, a finite number, true or false (or null to clear it)";

/**
 * A custom property's value as a write sends it. Which names exist and which type each takes is
 * the account's (GET /v1/properties), checked after this: see properties/custom-values.ts.
 */
const customValue = z.union(
  [z.string().openapi({ maxLength: MAX_STRING_VALUE_LENGTH }), z.number(), z.boolean()],
  { error: CUSTOM_VALUE_RULE },
);

/**
 * zod's records drop a `__proto__` key without a word (against prototype pollution), which would
 * accept a write naming a property that cannot exist: refused here first, as any unknown name is.
 */
const withoutProtoKey = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value, ctx) => {
    if (value && typeof value === "object" && Object.hasOwn(value, "__proto__")) {
      ctx.issues.push({
        code: "custom",
        path: ["__proto__"],
        message: UNKNOWN_PROPERTY_MESSAGE,
        input: value,
      });
    }
    return value;
  }, schema);

const customInput = withoutProtoKey(z.record(z.string(), customValue.nullable())).openapi({
  description:
    "Custom property values by property name (GET /v1/properties lists the account's). Each name must be " +
    "a property of the account and each value of its type: `string` (at most " +
    `${MAX_STRING_VALUE_LENGTH} characters), \`number\` (finite), \`boolean\` (true or false, not "true"), ` +
    "`date` (YYYY-MM-DD, a real date), `enumeration` (one of its options); `null` clears a value. An " +
    "archived property's value is read-only: sending back the value the contact holds is accepted, any " +
    `other is refused. The whole object may take ${MAX_CUSTOM_BYTES} bytes as JSON. Anything else is 400 ` +
    "`validation_failed` naming `acme_custom.<name>` (or `acme_custom` for the size).",
  // `examples`, not `example`: json-schema-faker (the contract fuzz) takes an `example` beside
  // `additionalProperties` for a property named "example".
  examples: [{ contract_tier: "gold", renewal_date: "2026-09-30", seats: 25, churn_risk: null }],
});

/** The writable Acme fields and their rules; create, replace and patch derive from this. */
const fields = {
  acme_first_name: text(100).nullable(),
  acme_last_name: text(100).nullable(),
  acme_email: z.email().max(254),
  acme_phone: z
    .string()
    .max(40)
    // No regex flags: the OpenAPI generator cannot carry them (it wrote "$/i" into the pattern).
    .regex(/^[0-9+()\-.\s/xX]*$/, "may contain only digits, spaces and + ( ) - . / x")
    .nullable()
    .openapi({ example: "+44 20 7946 0000" }),
  acme_company: text(200).nullable(),
  acme_title: text(200).nullable(),
  acme_notes: text(10_000).nullable(),
};

export type CustomInput = z.infer<typeof customInput>;

/** What a create takes: the email, and any other writable field. */
const createShape = {
  acme_email: fields.acme_email,
  acme_first_name: fields.acme_first_name.optional(),
  acme_last_name: fields.acme_last_name.optional(),
  acme_phone: fields.acme_phone.optional(),
  acme_company: fields.acme_company.optional(),
  acme_title: fields.acme_title.optional(),
  acme_notes: fields.acme_notes.optional(),
  acme_custom: customInput.optional(),
};

export const ContactCreateSchema = z
  .strictObject(createShape)
  .openapi("AcmeContactInput", { example: { acme_email: "ada@example.com", acme_first_name: "Ada" } });

/**
 * PUT replaces the whole contact: the same fields as create, omitted optionals become null. What a
 * GET returned is accepted back as it is (the round-trip law): the read-only fields are ignored,
 * but `id` must be the contact's own. One closed object, not create's schema extended: the
 * document would state that as an `allOf` of two closed schemas, which no value satisfies.
 */
export const ContactReplaceSchema = z
  .strictObject({
    ...createShape,
    acme_custom: customInput.optional().openapi({
      description:
        "Replaces the contact's custom values when given (`{}` clears every live property's value; an " +
        "archived property's value is kept: it is read-only); omitted, they stay as they are, so a client " +
        "that knows no custom properties never wipes them. Rules as on create.",
    }),
    id: z.string().min(1).max(64).optional().openapi({
      description: "Ignored if it is the id in the path; any other value is refused (400 naming `id`)",
    }),
    acme_version: z.number().int().optional().openapi({
      description: "Ignored: send If-Match for a write conditional on the version",
    }),
    acme_created_at: z.string().optional().openapi({ description: "Ignored" }),
    acme_updated_at: z.string().optional().openapi({ description: "Ignored" }),
    acme_deleted_at: z.string().nullable().optional().openapi({ description: "Ignored" }),
  })
  .openapi("AcmeContactReplace", {
    description:
      "The whole contact: omitted optional fields become null. A contact as GET returned it is " +
      "accepted back: the read-only fields are ignored, but `id`, if sent, must be the path's.",
    example: { acme_email: "ada@example.com", acme_first_name: "Ada", acme_last_name: "Lovelace" },
  });

/**
 * PATCH is a JSON merge patch (RFC 7396): absent keeps, null clears (email cannot be cleared);
 * `acme_custom` merges per property in the same way.
 */
export const ContactPatchSchema = z
  .strictObject({
    ...ContactCreateSchema.partial().shape,
    acme_custom: customInput.optional().openapi({
      description:
        "Merged per property: a property not named keeps its value, `null` clears one. Rules as on create.",
    }),
  })
  .openapi("AcmeContactPatch", {
    example: { acme_title: "Countess", acme_phone: null },
  });

/** A contact as Acme returns it, for the document's examples. */
export const ACME_CONTACT_EXAMPLE = {
  id: "ct_01jd5x8m3q0000000000000000",
  acme_first_name: "Ada",
  acme_last_name: "Lovelace",
  acme_email: "ada@example.com",
  acme_phone: "+44 20 7946 0000",
  acme_company: "Analytical Engines",
  acme_title: null,
  acme_notes: null,
  acme_custom: { contract_tier: "gold", renewal_date: "2026-09-30" },
  acme_version: 3,
  acme_created_at: "2026-01-15T09:30:00.000Z",
  acme_updated_at: "2026-02-01T16:05:12.000Z",
  acme_deleted_at: null,
};

export type ContactInput = z.infer<typeof ContactCreateSchema>;
/** A contact's built-in writable fields: what the columns hold, without `acme_custom`. */
export type ContactFields = Omit<ContactInput, "acme_custom">;
export type ContactPatch = z.infer<typeof ContactPatchSchema>;

export const ContactSchema = z
  .object({
    id: z.string().openapi({ example: "ct_01jd5x8m3q0000000000000000" }),
    acme_first_name: z.string().nullable(),
    acme_last_name: z.string().nullable(),
    acme_email: z.string(),
    acme_phone: z.string().nullable(),
    acme_company: z.string().nullable(),
    acme_title: z.string().nullable(),
    acme_notes: z.string().nullable(),
    acme_custom: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).openapi({
      description:
        "Custom property values by property name; `{}` when the contact has none. Values of archived " +
        "properties stay here, read-only.",
      example: { contract_tier: "gold", renewal_date: "2026-09-30" },
    }),
    acme_version: z.number().int(),
    acme_created_at: z.string(),
    acme_updated_at: z.string(),
    acme_deleted_at: z.string().nullable(),
  })
  .openapi("AcmeContact", { example: ACME_CONTACT_EXAMPLE });

export type AcmeContact = z.infer<typeof ContactSchema>;

const booleanQuery = z
  .enum(["true", "false"])
  .transform((v) => v === "true")
  .optional();

export const ContactListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().max(200).optional().openapi({ description: "Opaque cursor from paging.next.after" }),
  updated_since: z.iso
    .datetime({ offset: true })
    .optional()
    .openapi({ description: "Only contacts updated at or after this instant (ISO 8601)" }),
  email: z.string().max(254).optional(),
  include_deleted: booleanQuery,
});

export const ContactListSchema = z
  .object({
    results: z.array(ContactSchema),
    paging: z.object({ next: z.object({ after: z.string() }) }).optional(),
  })
  .openapi("AcmeContactList", {
    example: { results: [ACME_CONTACT_EXAMPLE], paging: { next: { after: "Y3RfMDFqZDV4OG0zcQ" } } },
  });

export const ContactIdParamsSchema = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const ContactGetQuerySchema = z.strictObject({ include_deleted: booleanQuery });
