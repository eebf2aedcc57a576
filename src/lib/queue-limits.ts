import { chunk } from "./d1-limits.ts";

/**
 * The most messages one `sendBatch` call may carry: "Maximum messages per sendBatch call: 100 (or
 * 256KB in total)" (https://developers.cloudflare.com/queues/platform/limits/). The messages here
 * are ids of a few dozen bytes, so the count is the limit that binds.
 */
export const QUEUE_MAX_BATCH_MESSAGES = 100;

/**
 * The longest delay (seconds) a message may be sent or retried with: 12 hours
 * (https://developers.cloudflare.com/queues/platform/limits/, "Per-message delay").
 */
export const QUEUE_MAX_DELAY_SECONDS = 43_200;

/**
 * The largest message a queue takes: "Maximum message size: 128 KB", where "1 KB is measured as
 * 1000 bytes" and "messages can include up to ~100 bytes of internal metadata that counts towards
 * total message limits" (https://developers.cloudflare.com/queues/platform/limits/). A larger
 * `send` throws, every time: the sender must refuse such a message before it tries.
 */
export const QUEUE_MAX_MESSAGE_BYTES = 128_000;

/** What the queue's own metadata may take of {@link QUEUE_MAX_MESSAGE_BYTES} (same page). */
export const QUEUE_MESSAGE_METADATA_BYTES = 100;

/** The largest body {@link queueMessageBytes} may measure for a message to fit. */
export const QUEUE_MAX_BODY_BYTES = QUEUE_MAX_MESSAGE_BYTES - QUEUE_MESSAGE_METADATA_BYTES;

/**
 * The bytes `body` takes as a queue message. Sent without a `contentType`, a message is JSON since
 * the `queues_json_messages` compatibility flag (on from compatibility date 2024-03-18), so its
 * size is its JSON text in UTF-8: escapes (`\"`, `\n`) and multi-byte characters count in full.
 * Throws a TypeError for a body JSON cannot carry (undefined, a function).
 */
export function queueMessageBytes(body: unknown): number {
  const json: string | undefined = JSON.stringify(body);
  if (json === undefined) throw new TypeError("a queue message body must be representable as JSON");
  return new TextEncoder().encode(json).byteLength;
}

/** Whether `body` fits in one queue message (see {@link QUEUE_MAX_BODY_BYTES}). */
export function fitsInQueueMessage(body: unknown): boolean {
  return queueMessageBytes(body) <= QUEUE_MAX_BODY_BYTES;
}

/** Sends `messages` in as many `sendBatch` calls as the limit needs, one after another. */
export async function sendAll<Body>(
  queue: { sendBatch(messages: Iterable<MessageSendRequest<Body>>): Promise<unknown> },
  messages: readonly MessageSendRequest<Body>[],
): Promise<void> {
  for (const run of chunk(messages, QUEUE_MAX_BATCH_MESSAGES)) await queue.sendBatch(run);
}
