import { z } from "@hono/zod-openapi";
import { CONTACT_FIELDS, contactShape, type RequiredApiField, type WritableApiField } from "./mapping.ts";

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

function inputShape(): InputShape {
  const shape: Partial<Record<WritableApiField, z.ZodType>> = {};
  for (const field of CONTACT_FIELDS) {
    if (!field.writable) continue;
    const rule = INPUT_RULES[field.api];
    shape[field.api] = field.required ? rule : rule.nullable().optional();
  }
  return shape as InputShape;
}

/** Create and full replace: every writable field, the required ones present; nothing else. */
export const ContactCreateSchema = z.strictObject(inputShape()).openapi("ContactInput");
export const ContactReplaceSchema = ContactCreateSchema;
/** Merge patch: any writable field; null clears an optional one (a required one cannot be cleared). */
export const ContactPatchSchema = ContactCreateSchema.partial().openapi("ContactPatch");

export type ContactInput = z.infer<typeof ContactCreateSchema>;
export type ContactPatch = z.infer<typeof ContactPatchSchema>;

/** The API's contact, every field of the mapping table under its API name. */
export const ContactSchema = z.object(contactShape("api")).openapi("Contact");

export type Contact = z.infer<typeof ContactSchema>;

export const ContactListQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(200).optional(),
  email: z.string().max(254).optional(),
  updatedSince: z.iso.datetime({ offset: true }).optional(),
});

export const ContactListSchema = z
  .object({ data: z.array(ContactSchema), nextCursor: z.string().nullable() })
  .openapi("ContactList");

export const ContactIdParamsSchema = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/)
    .openapi({ param: { name: "id", in: "path" }, example: "ct_01jd5x8m3q0000000000000000" }),
});
