import { z } from "zod";
import { ApiError } from "../errors.ts";
import { contactShape } from "./mapping.ts";

// The integration's own reading of Acme's contact contract (it never imports the mock's code),
// derived from the mapping table: whatever Acme sends is checked before it is mapped and served.
// `acme_deleted_at` is Acme's soft-delete mark (the API's `deletedAt`), which the change feed and
// reconciliation also read to tell a deletion apart.
export const AcmeContactSchema = z.looseObject({
  ...contactShape("acme"),
  // Acme's custom property values (issue 25): read as Acme states them, not yet mapped.
  acme_custom: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
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
