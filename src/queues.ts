import { handleDeadDeliveries, handleDeliveryBatch } from "./acme/webhooks/delivery-consumer.ts";
import { handleInboxBatch, handleInboxDeadLetters } from "./integration/webhooks/inbox-consumer.ts";
import { log } from "./lib/logger.ts";

type QueueHandler = (batch: MessageBatch<unknown>, env: Env) => Promise<void>;

/** Which consumer handles which queue (names as in wrangler.toml). */
const CONSUMERS: Record<string, QueueHandler> = {
  "acme-webhook-deliveries": (batch, env) => handleDeliveryBatch(batch, env),
  "acme-webhook-deliveries-dlq": handleDeadDeliveries,
  "integration-inbox": handleInboxBatch,
  "integration-inbox-dlq": handleInboxDeadLetters,
};

export async function dispatchQueue(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const consumer = CONSUMERS[batch.queue];
  if (!consumer) {
    // Nothing is lost: the messages come back, and end in the dead-letter queue if this persists.
    log("error", "no consumer for queue", { queue: batch.queue, messages: batch.messages.length });
    batch.retryAll();
    return;
  }
  await consumer(batch, env);
}
