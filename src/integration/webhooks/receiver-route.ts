import { createRoute, z } from "@hono/zod-openapi";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { hasValidIdTag } from "../../lib/id-tag.ts";
import { log } from "../../lib/logger.ts";
import { identityBody } from "../content-coding.ts";
import { createRouter } from "../context.ts";
import { ApiError } from "../errors.ts";
import { problemResponses } from "../problem-responses.ts";
import type { InboxMessage } from "./acme-event.ts";
import { cachedWebhookSecret } from "./webhook-secret-cache.ts";

const MAX_WEBHOOK_BYTES = 256 * 1024;

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
      "queues the event and answers 202. Anything else: 401, nothing queued.",
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
    if (Number(c.req.header("content-length") ?? 0) > MAX_WEBHOOK_BYTES) {
      throw new ApiError("payload_too_large", "The webhook body is too large.");
    }
    const body = await c.req.text();
    if (body.length > MAX_WEBHOOK_BYTES)
      throw new ApiError("payload_too_large", "The webhook body is too large.");
    const headers = {
      "webhook-id": c.req.header("webhook-id") ?? "",
      "webhook-timestamp": c.req.header("webhook-timestamp") ?? "",
      "webhook-signature": c.req.header("webhook-signature") ?? "",
    };
    if (!/^\d{1,12}$/.test(headers["webhook-timestamp"]) || headers["webhook-id"].length > 200)
      throw rejected();
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
      webhookId: headers["webhook-id"],
      body,
      receivedAt: new Date().toISOString(),
    };
    await c.env.INBOX_QUEUE.send(message);
    return c.json({ received: true as const }, 202);
  },
);
