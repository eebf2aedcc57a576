import { z } from "@hono/zod-openapi";
import { CHANGE_EVENT_EXAMPLE, type ChangeEvent, ChangeEventSchema } from "../feed/change-event.ts";
import { CHANGE_TYPES } from "../feed/change-types.ts";

/**
 * What a destination receives: one change-feed entry, as Standard Webhooks v1 payloads are
 * shaped (`type`, `timestamp`, `data`). `data` is the feed entry exactly as `GET /api/v1/events`
 * returns it, whichever path brought the change, so the shape never differs between the two.
 */
export const DestinationPayloadSchema = z
  .object({
    type: z.enum(CHANGE_TYPES),
    timestamp: z
      .string()
      .openapi({ description: "When the change happened at Acme (the entry's occurredAt)" }),
    data: ChangeEventSchema,
  })
  .openapi("DestinationPayload", {
    example: {
      type: "contact.updated",
      timestamp: CHANGE_EVENT_EXAMPLE.occurredAt,
      data: CHANGE_EVENT_EXAMPLE,
    },
  });

/**
 * The body POSTed for a feed entry: the same bytes on every attempt, unless the connection's
 * custom-field mapping changed in between (entries are mapped when sent, as the feed maps them
 * when read).
 */
export function deliveryBody(event: ChangeEvent): string {
  return JSON.stringify({ type: event.type, timestamp: event.occurredAt, data: event });
}
