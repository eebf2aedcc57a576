import { z } from "@hono/zod-openapi";
import { ACME_CONTACT_EXAMPLE, ContactSchema } from "../contacts/schemas.ts";
import { WEBHOOK_EVENT_TYPES } from "../db/schema.ts";

/**
 * The body of every webhook Acme sends: the contact as the API returns it (custom values in
 * `acme_custom` included) and, for an update or delete, the contact before the change.
 */
export const WebhookEventPayloadSchema = z
  .object({
    type: z.enum(WEBHOOK_EVENT_TYPES),
    timestamp: z.string().openapi({ description: "When the change was made (ISO 8601 UTC)" }),
    data: ContactSchema,
    previous: ContactSchema.optional().openapi({
      description: "The contact before the change (contact.updated and contact.deleted)",
    }),
  })
  .openapi("AcmeWebhookEvent", {
    example: {
      type: "contact.updated",
      timestamp: ACME_CONTACT_EXAMPLE.acme_updated_at,
      data: ACME_CONTACT_EXAMPLE,
      previous: {
        ...ACME_CONTACT_EXAMPLE,
        acme_custom: { contract_tier: "silver", renewal_date: "2026-09-30" },
        acme_version: 2,
        acme_updated_at: "2026-01-20T11:00:00.000Z",
      },
    },
  });

export type WebhookEventPayload = z.infer<typeof WebhookEventPayloadSchema>;
