import { log } from "./logger.ts";

/** A consumer of one queue's batches. */
export type QueueHandler = (batch: MessageBatch<unknown>, env: Env) => Promise<void>;

/** Which consumer handles which queue, by queue name as in wrangler.toml. */
export type QueueConsumers = Record<string, QueueHandler>;

/**
 * The Worker's `queue` handler over `consumers`: each batch goes to its queue's consumer. A batch
 * of a queue with no consumer here is logged and retried whole, so nothing is lost (it ends in
 * the dead-letter queue if this persists).
 */
export function queueDispatcher(consumers: QueueConsumers): QueueHandler {
  return async function dispatchQueue(batch, env) {
    const consumer = consumers[batch.queue];
    if (!consumer) {
      log("error", "no consumer for queue", { queue: batch.queue, messages: batch.messages.length });
      batch.retryAll();
      return;
    }
    await consumer(batch, env);
  };
}
