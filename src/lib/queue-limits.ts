import { chunk } from "./d1-limits.ts";

/**
 * The most messages one `sendBatch` call may carry: "Maximum messages per sendBatch call: 100 (or
 * 256KB in total)" (https://developers.cloudflare.com/queues/platform/limits/). The messages here
 * are ids of a few dozen bytes, so the count is the limit that binds.
 */
export const QUEUE_MAX_BATCH_MESSAGES = 100;

/** Sends `messages` in as many `sendBatch` calls as the limit needs, one after another. */
export async function sendAll<Body>(
  queue: { sendBatch(messages: Iterable<MessageSendRequest<Body>>): Promise<unknown> },
  messages: readonly MessageSendRequest<Body>[],
): Promise<void> {
  for (const run of chunk(messages, QUEUE_MAX_BATCH_MESSAGES)) await queue.sendBatch(run);
}
