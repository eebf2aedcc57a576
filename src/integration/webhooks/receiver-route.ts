import { createRoute, z } from "@hono/zod-openapi";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { hasValidIdTag } from "../../lib/id-tag.ts";
import { log } from "../../lib/logger.ts";
import { QUEUE_MAX_BODY_BYTES, queueMessageBytes } from "../../lib/queue-limits.ts";
import { identityBody } from "../content-coding.ts";
import { createRouter } from "../context.ts";
import { ApiError } from "../errors.ts";
import { problemResponses } from "../problem-responses.ts";
import type { InboxMessage } from "./acme-event.ts";
import { cachedWebhookSecret } from "./webhook-secret-cache.ts";

/** Any receipt time, for measuring: ISO 8601 instants are all this long. */
const SOME_RECEIPT_TIME = new Date(0).toISOString();

/**
 * 413 unless the inbox message carrying `body` fits in one queue message. The message is the body
 * with the connection, the webhook id and the receipt time, as JSON: quotes and backslashes in the
 * body take two bytes there, multi-byte characters their UTF-8 size. A webhook that cannot be
 * queued would otherwise answer 500 on every retry.
 */
function ensureQueueable(envelope: Omit<InboxMessage, "receivedAt">): void {
  const bytes = queueMessageBytes({ ...envelope, receivedAt: SOME_RECEIPT_TIME });
  if (bytes > QUEUE_MAX_BODY_BYTES) throw tooLarge(`its inbox message would take ${bytes} bytes`);
}

function tooLarge(why: string): ApiError {
  return new ApiError(
    "payload_too_large",
    `The webhook is too large to queue: ${why}, over the ${QUEUE_MAX_BODY_BYTES} bytes a queue message holds.`,
  );
}

function rejected(): ApiError {
  // One answer for every failure: the sender learns nothing about which check failed.
  return new ApiError("invalid_signature", "The webhook signature, timestamp or connection is not valid.");
}

export const webhookReceiverRouter = createRouter().openapi(
  createRoute({
    method: "post",
    path: "/webhooks/acme/{connectionId}",
    tags: ["Webhooks"],
    summary: "Acme's webhooks for one connection (Standard Webhooks v1)",
    description:
      "Verifies `webhook-signature` over the raw body with the connection's secret (any of several " +
      "space-separated signatures may match), requires `webhook-timestamp` within 5 minutes, then " +
      "queues the event and answers 202. Anything else: 401, nothing queued. A body whose queue " +
      "message (the body with the connection id, `webhook-id` and receipt time, as JSON) would " +
      "pass the queue's 128 KB: 413 before its signature is checked, nothing queued.",
    request: { params: z.object({ connectionId: z.string().min(1).max(64) }) },
    middleware: [identityBody()] as const,
    responses: {
      202: {
        description: "Queued",
        content: { "application/json": { schema: z.object({ received: z.literal(true) }) } },
      },
      ...problemResponses(400, 401, 413, 415),
    },
  }),
  async (c) => {
    const { connectionId } = c.req.valid("param");
    // An id this deployment never minted is refused before anything else: no D1 read for strangers.
    if (!(await hasValidIdTag(c.var.config.idTagKey, connectionId))) throw rejected();
    const headers = {
      "webhook-id": c.req.header("webhook-id") ?? "",
      "webhook-timestamp": c.req.header("webhook-timestamp") ?? "",
      "webhook-signature": c.req.header("webhook-signature") ?? "",
    };
    const webhookId = headers["webhook-id"];
    // Each byte of the body takes at least one in the queue message: a declared length too large
    // is refused before the body is read, and any body too large before its signature is checked.
    const declared = Number(c.req.header("content-length") ?? 0);
    const envelope = queueMessageBytes({ connectionId, webhookId, body: "", receivedAt: SOME_RECEIPT_TIME });
    if (declared + envelope > QUEUE_MAX_BODY_BYTES) {
      throw tooLarge(`its inbox message would take at least ${declared + envelope} bytes`);
    }
    const body = await c.req.text();
    ensureQueueable({ connectionId, webhookId, body });
    if (!/^\d{1,12}$/.test(headers["webhook-timestamp"]) || webhookId.length > 200) throw rejected();
    const secret = await cachedWebhookSecret(c.env, c.var.config.secretKeys, connectionId);
    if (!secret) throw rejected();
    try {
      new Webhook(secret).verify(body, headers, { jsonParse: false });
    } catch (error) {
      log("warn", "webhook rejected", {
        connectionId,
        reason: error instanceof WebhookVerificationError ? error.message : "verification error",
      });
      throw rejected();
    }
    const message: InboxMessage = {
      connectionId,
      webhookId,
      body,
      receivedAt: new Date().toISOString(),
    };
    await c.env.INBOX_QUEUE.send(message);
    return c.json({ received: true as const }, 202);
  },
);
