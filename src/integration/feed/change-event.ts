import { z } from "@hono/zod-openapi";
import { CHANGE_SOURCES, type changeEvents } from "../connection-data/schema.ts";
import { type CustomFieldMapping, changesWithCustomFields, withCustomFields } from "../contacts/mapping.ts";
import { CONTACT_EXAMPLE, ContactSchema, type StoredContact } from "../contacts/schemas.ts";
import { CHANGE_TYPES, type ChangeType } from "./change-types.ts";

/** A change as the feed shows it, for the document's examples. */
export const CHANGE_EVENT_EXAMPLE = {
  seq: 42,
  id: "msg_2mKq9x7vTb0000000000000000",
  type: "contact.updated",
  occurredAt: "2026-02-01T16:05:12.000Z",
  recordedAt: "2026-02-01T16:05:12.480Z",
  contact: CONTACT_EXAMPLE,
  changes: {
    company: { from: null, to: "Analytical Engines" },
    "customFields.contractTier": { from: "silver", to: "gold" },
  },
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
    changes: z.record(z.string(), z.object({ from: z.unknown(), to: z.unknown() })).openapi({
      description:
        "Each changed field's `{from, to}`, by API name; a custom field as `customFields.<name>` " +
        "(only those the connection maps now).",
    }),
    source: z.enum(CHANGE_SOURCES),
  })
  .openapi("ChangeEvent", { example: CHANGE_EVENT_EXAMPLE });
export type ChangeEvent = z.infer<typeof ChangeEventSchema>;

/**
 * A `change_events` row as the API's change event under the connection's custom-field mapping as
 * it is now: the stored contact and field changes are JSON text with Acme's custom values raw,
 * parsed and mapped here; the type column holds one of CHANGE_TYPES (only `applyChange` writes it).
 */
export function toChangeEvent(
  row: typeof changeEvents.$inferSelect,
  mapping: readonly CustomFieldMapping[],
): ChangeEvent {
  return {
    seq: row.seq,
    id: row.eventId,
    type: row.type as ChangeType,
    occurredAt: row.occurredAt,
    recordedAt: row.recordedAt,
    contact: withCustomFields(JSON.parse(row.contact) as StoredContact, mapping),
    changes: changesWithCustomFields(JSON.parse(row.changes) as ChangeEvent["changes"], mapping),
    source: row.source,
  };
}
