import type { DeliveryAttemptRow, DestinationRow } from "../connection-data/schema.ts";
import type { ChangeType } from "../feed/change-types.ts";

// A destination and its delivery log as the API returns them and the operator console shows them.

/** A destination without its secrets. */
export function toDestination(row: DestinationRow) {
  return {
    id: row.id,
    url: row.url,
    events: JSON.parse(row.events) as ChangeType[],
    description: row.description,
    status: row.status,
    disabledReason: row.disabledReason,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
export type PublicDestination = ReturnType<typeof toDestination>;

/** One attempt of the delivery log, its times as ISO text. */
export function toAttempt(row: DeliveryAttemptRow) {
  return {
    id: row.id,
    deliveryId: row.deliveryId,
    eventId: row.eventId,
    seq: row.seq,
    attempt: row.attempt,
    status: row.status,
    responseStatus: row.responseStatus,
    responseExcerpt: row.responseExcerpt ?? "",
    error: row.error,
    durationMs: row.durationMs,
    attemptedAt: new Date(row.attemptedAt).toISOString(),
    nextAttemptAt: row.nextAttemptAt === null ? null : new Date(row.nextAttemptAt).toISOString(),
  };
}
export type PublicAttempt = ReturnType<typeof toAttempt>;
