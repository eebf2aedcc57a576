import { z } from "@hono/zod-openapi";

// Rules are no looser than Acme's, so bad input fails here with the API's field names.
// Lone surrogates cannot be stored as UTF-8 (Acme would keep U+FFFD instead): refuse them here.
const WELL_FORMED = "must be well-formed Unicode (no lone surrogates)";
const wellFormed = (s: string) => s.isWellFormed();
const name = z.string().min(1).max(100).refine(wellFormed, WELL_FORMED);
const optionalText = (max: number) =>
  z.string().max(max).refine(wellFormed, WELL_FORMED).nullable().optional();

const writable = {
  firstName: name.openapi({ example: "Ada" }),
  lastName: name.openapi({ example: "Lovelace" }),
  email: z.email().max(254).openapi({ example: "ada@example.com" }),
  phone: z
    .string()
    .max(40)
    // No regex flags: the OpenAPI generator cannot carry them (it wrote "$/i" into the pattern).
    .regex(/^[0-9+()\-.\s/xX]*$/, "may contain only digits, spaces and + ( ) - . / x")
    .nullable()
    .optional()
    .openapi({ example: "+44 20 7946 0000" }),
  company: optionalText(200),
  title: optionalText(200),
  notes: optionalText(10_000),
};

export const ContactCreateSchema = z.strictObject(writable).openapi("ContactInput");
export const ContactReplaceSchema = ContactCreateSchema;
export const ContactPatchSchema = z
  .strictObject({
    firstName: name.optional(),
    lastName: name.optional(),
    email: writable.email.optional(),
    phone: writable.phone,
    company: writable.company,
    title: writable.title,
    notes: writable.notes,
  })
  .openapi("ContactPatch");

export type ContactInput = z.infer<typeof ContactCreateSchema>;
export type ContactPatch = z.infer<typeof ContactPatchSchema>;

export const ContactSchema = z
  .object({
    id: z.string(),
    firstName: z.string().nullable(),
    lastName: z.string().nullable(),
    email: z.string(),
    phone: z.string().nullable(),
    company: z.string().nullable(),
    title: z.string().nullable(),
    notes: z.string().nullable(),
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Contact");

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

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    requestId: z.string(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .openapi("Problem");
