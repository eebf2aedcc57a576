import { z } from "@hono/zod-openapi";

const text = (max: number) => z.string().max(max);

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

export const ContactCreateSchema = z
  .strictObject({
    acme_email: fields.acme_email,
    acme_first_name: fields.acme_first_name.optional(),
    acme_last_name: fields.acme_last_name.optional(),
    acme_phone: fields.acme_phone.optional(),
    acme_company: fields.acme_company.optional(),
    acme_title: fields.acme_title.optional(),
    acme_notes: fields.acme_notes.optional(),
  })
  .openapi("AcmeContactInput");

/**
 * PUT replaces the whole contact: the same fields as create, omitted optionals become null. What a
 * GET returned is accepted back as it is (the round-trip law): the read-only fields are ignored,
 * but `id` must be the contact's own.
 */
export const ContactReplaceSchema = ContactCreateSchema.extend({
  id: z.string().optional(),
  acme_version: z.number().int().optional(),
  acme_created_at: z.string().optional(),
  acme_updated_at: z.string().optional(),
  acme_deleted_at: z.string().nullable().optional(),
}).openapi("AcmeContactReplace");

/** PATCH is a JSON merge patch (RFC 7396): absent keeps, null clears (email cannot be cleared). */
export const ContactPatchSchema = ContactCreateSchema.partial().openapi("AcmeContactPatch");

export type ContactInput = z.infer<typeof ContactCreateSchema>;
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
    acme_version: z.number().int(),
    acme_created_at: z.string(),
    acme_updated_at: z.string(),
    acme_deleted_at: z.string().nullable(),
  })
  .openapi("AcmeContact");

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
  .openapi("AcmeContactList");

export const ContactIdParamsSchema = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

export const ContactGetQuerySchema = z.strictObject({ include_deleted: booleanQuery });
