import { z } from "@hono/zod-openapi";
import { CHANGE_SOURCES, type changeEvents } from "../connection-data/schema.ts";
import { CONTACT_EXAMPLE, ContactSchema } from "../contacts/schemas.ts";
import { CHANGE_TYPES, type ChangeType } from "./change-types.ts";

/** A change as the feed shows it, for the document's examples. */
export const CHANGE_EVENT_EXAMPLE = {
  seq: 42,
  id: "msg_2mKq9x7vTb0000000000000000",
  type: "contact.updated",
  occurredAt: "2026-02-01T16:05:12.000Z",
  recordedAt: "2026-02-01T16:05:12.480Z",
  contact: CONTACT_EXAMPLE,
  changes: { company: { from: null, to: "Analytical Engines" } },
  source: "webhook",
};

/** One change of the feed in the API's shape (GET /api/v1/events; the console shows the same). */
export const ChangeEventSchema = z
  .object({
    seq: z.number().int(),
    id: z.string().openapi({
      description: "Acme's webhook id, or rec_… / bf_… for changes found by reconciliation / backfill",
    }),
    type: z.enum(CHANGE_TYPES),
    occurredAt: z.string().openapi({ description: "When the change happened at Acme" }),
    recordedAt: z.string().openapi({ description: "When the integration recorded it" }),
    contact: ContactSchema,
    changes: z.record(z.string(), z.object({ from: z.unknown(), to: z.unknown() })),
    source: z.enum(CHANGE_SOURCES),
  })
  .openapi("ChangeEvent", { example: CHANGE_EVENT_EXAMPLE });
export type ChangeEvent = z.infer<typeof ChangeEventSchema>;

/**
 * A `change_events` row as the API's change event: the stored contact and field changes are JSON
 * text, parsed here; the type column holds one of CHANGE_TYPES (only `applyChange` writes it).
 */
export function toChangeEvent(row: typeof changeEvents.$inferSelect): ChangeEvent {
  return {
    seq: row.seq,
    id: row.eventId,
    type: row.type as ChangeType,
    occurredAt: row.occurredAt,
    recordedAt: row.recordedAt,
    contact: JSON.parse(row.contact),
    changes: JSON.parse(row.changes),
    source: row.source,
  };
}
