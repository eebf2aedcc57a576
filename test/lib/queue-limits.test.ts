import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  fitsInQueueMessage,
  QUEUE_MAX_BODY_BYTES,
  QUEUE_MAX_MESSAGE_BYTES,
  queueMessageBytes,
} from "../../src/lib/queue-limits.ts";

/** A message the deliveries consumer drops as unreadable (acked, nothing else), `bytes` long as JSON. */
function paddedMessage(bytes: number) {
  const empty = queueMessageBytes({ kind: "budget-probe", pad: "" });
  return { kind: "budget-probe", pad: "x".repeat(bytes - empty) };
}

describe("queue limits", () => {
  it("measures a message as the runtime does: 128,000 bytes of JSON are sent, one more is refused", async () => {
    const largest = paddedMessage(QUEUE_MAX_MESSAGE_BYTES);
    expect(queueMessageBytes(largest)).toBe(QUEUE_MAX_MESSAGE_BYTES);
    await expect(env.ACME_WEBHOOK_QUEUE.send(largest)).resolves.toBeDefined();
    // Locally the refusal reads "Unknown Internal Error (15000)"; what matters is where it starts.
    await expect(env.ACME_WEBHOOK_QUEUE.send(paddedMessage(QUEUE_MAX_MESSAGE_BYTES + 1))).rejects.toThrow();
  });

  it("counts JSON escapes and multi-byte characters in full", () => {
    expect(queueMessageBytes("ab")).toBe(4);
    expect(queueMessageBytes('a"b\n')).toBe(8);
    expect(queueMessageBytes("é")).toBe(4);
    expect(queueMessageBytes("😀")).toBe(6);
    expect(queueMessageBytes({ body: '{"a":1}' })).toBe(JSON.stringify({ body: '{"a":1}' }).length);
  });

  it("leaves room for the queue's own metadata", () => {
    expect(fitsInQueueMessage(paddedMessage(QUEUE_MAX_BODY_BYTES))).toBe(true);
    expect(fitsInQueueMessage(paddedMessage(QUEUE_MAX_BODY_BYTES + 1))).toBe(false);
  });

  it("refuses a body JSON cannot carry", () => {
    expect(() => queueMessageBytes(undefined)).toThrow(TypeError);
  });
});
