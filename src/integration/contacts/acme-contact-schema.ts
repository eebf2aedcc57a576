import { z } from "zod";
import { ApiError } from "../errors.ts";
import { contactShape } from "./mapping.ts";

// The integration's own reading of Acme's contact contract (it never imports the mock's code),
// derived from the mapping table: whatever Acme sends is checked before it is mapped and served.
export const AcmeContactSchema = z.looseObject({
  ...contactShape("acme"),
  // Acme's soft-delete mark: no field of the API's contact, read by the change feed and
  // reconciliation to tell a deletion apart.
  acme_deleted_at: z.string().nullable().optional(),
});

export const AcmeContactPageSchema = z.looseObject({
  results: z.array(AcmeContactSchema),
  paging: z.object({ next: z.object({ after: z.string() }) }).optional(),
});

export type AcmeContact = z.infer<typeof AcmeContactSchema>;

/** `body` as `schema` reads it; 502 acme_bad_response when Acme broke its contract. */
export function parseAcme<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    throw new ApiError("acme_bad_response", "Acme sent a response that does not match its contract.");
  return parsed.data;
}
