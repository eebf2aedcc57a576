import { z } from "zod";

/** Messages on `acme-webhook-deliveries`: an event to fan out, or one delivery to attempt. */
export const DeliveryMessageSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("fanout"), eventId: z.string() }),
  z.object({ kind: z.literal("deliver"), deliveryId: z.string() }),
]);

export type DeliveryMessage = z.infer<typeof DeliveryMessageSchema>;

/** The part of the deliveries queue the outbox and the consumer use; tests pass a recording one. */
export interface DeliveryQueue {
  sendBatch(messages: Iterable<MessageSendRequest<DeliveryMessage>>): Promise<unknown>;
}
