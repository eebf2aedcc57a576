import { z } from "zod";
import { ApiError } from "../errors.ts";

// The integration's own reading of Acme's contact contract (it never imports the mock's code):
// whatever Acme sends is checked before it is mapped and served.
export const AcmeContactSchema = z.looseObject({
  id: z.string(),
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
  acme_deleted_at: z.string().nullable().optional(),
});

export const AcmeContactPageSchema = z.looseObject({
  results: z.array(AcmeContactSchema),
  paging: z.object({ next: z.object({ after: z.string() }) }).optional(),
});

export type AcmeContact = z.infer<typeof AcmeContactSchema>;

export function parseAcme<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    throw new ApiError("acme_bad_response", "Acme sent a response that does not match its contract.");
  return parsed.data;
}
