import { z } from "zod";
import { AcmeContactSchema } from "../contacts/acme-contact-schema.ts";
import { fromAcme } from "../contacts/mapping.ts";
import type { StoredContact } from "../contacts/schemas.ts";
import { CHANGE_TYPES } from "../feed/change-types.ts";
import type { IncomingChange } from "../feed/feed-store.ts";

/** What the receiver puts on `integration-inbox`: the verified webhook, body untouched. */
export const InboxMessageSchema = z.object({
  connectionId: z.string().min(1),
  webhookId: z.string().min(1),
  body: z.string(),
  receivedAt: z.string(),
});
export type InboxMessage = z.infer<typeof InboxMessageSchema>;

/** Acme's webhook body, as the integration reads its contract. */
export const AcmeWebhookSchema = z.object({
  type: z.enum(CHANGE_TYPES),
  timestamp: z.iso.datetime({ offset: true }),
  data: AcmeContactSchema,
  previous: AcmeContactSchema.optional(),
});

/** A verified webhook from the inbox as a change for the feed (its id deduplicates it). */
export function changeFromWebhook(
  message: InboxMessage,
  body: z.infer<typeof AcmeWebhookSchema>,
): IncomingChange {
  return {
    eventId: message.webhookId,
    webhookId: message.webhookId,
    type: body.type,
    occurredAt: body.timestamp,
    contact: fromAcme(body.data) as StoredContact,
    previous: body.previous ? (fromAcme(body.previous) as StoredContact) : null,
    deletedAt: body.data.acme_deleted_at ?? null,
    source: "webhook",
  };
}
