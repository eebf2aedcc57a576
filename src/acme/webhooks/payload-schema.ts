import { type RouteConfig, z } from "@hono/zod-openapi";
import { jsonRequestBody } from "../../lib/openapi.ts";
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

/**
 * What subscribers receive, one webhook per event type, for the document's `webhooks` section.
 * Registered on the app itself (app.ts): a router mounted with `route` would prefix their names.
 */
export const CONTACT_WEBHOOKS: RouteConfig[] = WEBHOOK_EVENT_TYPES.map((type) => ({
  method: "post",
  path: type,
  tags: ["Webhooks"],
  summary: `A contact was ${type.slice("contact.".length)}: sent to each enabled subscription for ${type}`,
  description:
    "Standard Webhooks v1: `webhook-id` is the event's id (the same on every attempt), `webhook-timestamp` " +
    "the attempt's time in seconds, `webhook-signature` `v1,<base64 HMAC-SHA256 of id.timestamp.body>`. " +
    "`data` is the contact as the API returns it (custom values in `acme_custom`), `previous` the contact " +
    "before the change. Answer 2xx to acknowledge; 410 disables the subscription; anything else, or no " +
    "answer within ACME_WEBHOOK_TIMEOUT_MS, is retried.",
  request: {
    headers: z.object({
      "webhook-id": z.string().openapi({ example: "msg_01jd5x8m3q0000000000000000" }),
      "webhook-timestamp": z.string().regex(/^\d+$/).openapi({ example: "1769961913" }),
      "webhook-signature": z.string().openapi({ example: "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=" }),
    }),
    body: jsonRequestBody(WebhookEventPayloadSchema),
  },
  responses: {
    200: { description: "Received (any 2xx)" },
    410: { description: "Gone: the subscription is disabled at once" },
  },
}));
