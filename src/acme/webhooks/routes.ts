import { z } from "@hono/zod-openapi";
import { jsonRequestBody, jsonResponse } from "../../lib/openapi.ts";
import { HTTPS_URL_SPELLING, webhookUrlProblem } from "../../lib/webhook-url-policy.ts";
import { type AcmeEnv, createAcmeRouter } from "../context.ts";
import { WEBHOOK_EVENT_TYPES } from "../db/schema.ts";
import { AcmeError } from "../errors.ts";
import { acmeJsonBody } from "../json-body.ts";
import { errorResponses, V1_ERROR_STATUSES } from "../openapi-schemas.ts";
import { accessToken, securedRoute } from "../secured-route.ts";
import type { DeliveryMessage } from "./messages.ts";
import { publicSubscription, SubscriptionRepository } from "./subscriptions.ts";

const EventsSchema = z.array(z.enum(WEBHOOK_EVENT_TYPES)).min(1);

/**
 * What the document can say of a webhook URL: https, written out plainly, at most 2000
 * characters; the description says what the server checks beyond (the host, credentials).
 */
const WebhookUrlSchema = z
  .string()
  .max(2000)
  .openapi({
    pattern: HTTPS_URL_SPELLING.source,
    example: "https://hooks.example.com/acme",
    description:
      "An absolute https URL to a public host, without credentials (else 400 naming `url`): a " +
      "single-label name, a name under a special-use or private suffix (localhost, local, internal, " +
      "test, example, invalid, onion, arpa, lan, home, corp...) and a literal private, loopback, " +
      "link-local or other non-global address are refused. Where the deployment allows loopback " +
      "(ACME_WEBHOOK_ALLOW_LOOPBACK, local development only) loopback hosts are accepted too, over http as well.",
  });

const SubscriptionInputSchema = z
  .strictObject({
    url: WebhookUrlSchema,
    events: EventsSchema,
    description: z.string().max(200).nullable().optional(),
  })
  .openapi("AcmeWebhookSubscriptionInput", {
    example: {
      url: "https://hooks.example.com/acme",
      events: ["contact.created", "contact.updated", "contact.deleted"],
      description: "CRM bridge",
    },
  });

const SubscriptionPatchSchema = z
  .strictObject({
    url: WebhookUrlSchema.optional(),
    events: EventsSchema.optional(),
    description: z.string().max(200).nullable().optional(),
    enabled: z.boolean().optional(),
  })
  .openapi("AcmeWebhookSubscriptionPatch", { example: { events: ["contact.updated"], enabled: true } });

/** A subscription as Acme shows it, for the document's examples. */
const SUBSCRIPTION_EXAMPLE = {
  id: "wh_01jd5x8m3q0000000000000000",
  url: "https://hooks.example.com/acme",
  events: ["contact.created", "contact.updated", "contact.deleted"],
  description: "CRM bridge",
  enabled: true,
  disabled_reason: null,
  created_at: "2026-01-15T09:00:00.000Z",
  updated_at: "2026-01-15T09:00:00.000Z",
};

const SubscriptionSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.string()),
    description: z.string().nullable(),
    enabled: z.boolean(),
    disabled_reason: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi("AcmeWebhookSubscription", { example: SUBSCRIPTION_EXAMPLE });

const SubscriptionCreatedSchema = SubscriptionSchema.extend({
  secret: z.string().openapi({ description: "Standard Webhooks signing secret (whsec_...), shown once" }),
}).openapi("AcmeWebhookSubscriptionCreated", {
  example: { ...SUBSCRIPTION_EXAMPLE, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" },
});

const DeliverySchema = z
  .object({
    id: z.string(),
    event_id: z.string(),
    status: z.string(),
    attempts: z.number().int(),
    last_status_code: z.number().int().nullable(),
    last_error: z.string().nullable(),
    next_attempt_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    attempt_log: z.array(
      z.object({
        attempt: z.number().int(),
        status_code: z.number().int().nullable(),
        error: z.string().nullable(),
        duration_ms: z.number().int(),
        created_at: z.string(),
      }),
    ),
  })
  .openapi("AcmeWebhookDelivery", {
    example: {
      id: "dlv_01jd5x8m3q0000000000000000",
      event_id: "msg_2mKq9x7vTb0000000000000000",
      status: "retrying",
      attempts: 1,
      last_status_code: 503,
      last_error: null,
      next_attempt_at: "2026-02-01T16:05:17.000Z",
      created_at: "2026-02-01T16:05:12.000Z",
      updated_at: "2026-02-01T16:05:12.300Z",
      attempt_log: [
        {
          attempt: 1,
          status_code: 503,
          error: null,
          duration_ms: 212,
          created_at: "2026-02-01T16:05:12.300Z",
        },
      ],
    },
  });

const IdParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});
const DeliveryParams = IdParams.extend({
  deliveryId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "deliveryId", in: "path" } }),
});

const security = accessToken("webhooks.manage");

function checkUrl(url: string, allowLoopback: boolean): void {
  const problem = webhookUrlProblem(url, { allowLoopback });
  if (problem) {
    throw new AcmeError("validation_failed", `The webhook URL ${problem}.`, {
      details: [{ field: "url", message: problem }],
    });
  }
}

const repository = (c: { env: Env; var: AcmeEnv["Variables"] }) =>
  new SubscriptionRepository(c.env.ACME_DB, c.var.client.accountId, c.var.config);

export const webhookRouter = createAcmeRouter();

webhookRouter
  .openapi(
    securedRoute({
      method: "post",
      path: "/v1/webhooks",
      tags: ["Webhooks"],
      summary: "Subscribe a URL to contact events (the signing secret is returned once)",
      security,
      middleware: [acmeJsonBody] as const,
      request: { body: jsonRequestBody(SubscriptionInputSchema) },
      responses: {
        201: jsonResponse("Created", SubscriptionCreatedSchema),
        ...errorResponses(...V1_ERROR_STATUSES, 415),
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      checkUrl(input.url, c.var.config.webhookAllowLoopback);
      const { row, secret } = await repository(c).create(input);
      c.header("Location", `${c.req.path}/${row.id}`);
      return c.json({ ...publicSubscription(row), secret }, 201);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/v1/webhooks",
      tags: ["Webhooks"],
      summary: "List subscriptions",
      security,
      responses: {
        200: jsonResponse("Subscriptions", z.object({ results: z.array(SubscriptionSchema) })),
        ...errorResponses(...V1_ERROR_STATUSES),
      },
    }),
    async (c) => c.json({ results: (await repository(c).list()).map(publicSubscription) }, 200),
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/v1/webhooks/{id}",
      tags: ["Webhooks"],
      summary: "Get a subscription",
      security,
      request: { params: IdParams },
      responses: {
        200: jsonResponse("The subscription", SubscriptionSchema),
        ...errorResponses(...V1_ERROR_STATUSES, 404),
      },
    }),
    async (c) => c.json(publicSubscription(await repository(c).get(c.req.valid("param").id)), 200),
  )
  .openapi(
    securedRoute({
      method: "patch",
      path: "/v1/webhooks/{id}",
      tags: ["Webhooks"],
      summary: "Change URL, events or description; enable or disable",
      security,
      middleware: [acmeJsonBody] as const,
      request: { params: IdParams, body: jsonRequestBody(SubscriptionPatchSchema) },
      responses: {
        200: jsonResponse("Updated", SubscriptionSchema),
        ...errorResponses(...V1_ERROR_STATUSES, 404, 415),
      },
    }),
    async (c) => {
      const patch = c.req.valid("json");
      if (patch.url !== undefined) checkUrl(patch.url, c.var.config.webhookAllowLoopback);
      return c.json(publicSubscription(await repository(c).update(c.req.valid("param").id, patch)), 200);
    },
  )
  .openapi(
    securedRoute({
      method: "delete",
      path: "/v1/webhooks/{id}",
      tags: ["Webhooks"],
      summary: "Delete a subscription",
      security,
      request: { params: IdParams },
      responses: { 204: { description: "Deleted" }, ...errorResponses(...V1_ERROR_STATUSES, 404) },
    }),
    async (c) => {
      await repository(c).remove(c.req.valid("param").id);
      return c.body(null, 204);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/v1/webhooks/{id}/deliveries",
      tags: ["Webhooks"],
      summary: "The delivery log: every event sent to this subscription and each attempt",
      security,
      request: {
        params: IdParams,
        query: z.strictObject({
          limit: z.coerce.number().int().min(1).max(100).default(20),
          before: z.string().max(64).optional(),
        }),
      },
      responses: {
        200: jsonResponse(
          "Deliveries, newest first",
          z.object({
            results: z.array(DeliverySchema),
            paging: z.object({ next: z.object({ before: z.string() }) }).optional(),
          }),
        ),
        ...errorResponses(...V1_ERROR_STATUSES, 404),
      },
    }),
    async (c) => {
      const { limit, before } = c.req.valid("query");
      const { page, attempts, more } = await repository(c).deliveries(c.req.valid("param").id, limit, before);
      const results = page.map((d) => ({
        id: d.id,
        event_id: d.eventId,
        status: d.status,
        attempts: d.attempts,
        last_status_code: d.lastStatusCode,
        last_error: d.lastError,
        next_attempt_at: d.nextAttemptAt,
        created_at: d.createdAt,
        updated_at: d.updatedAt,
        attempt_log: attempts
          .filter((a) => a.deliveryId === d.id)
          .map((a) => ({
            attempt: a.attempt,
            status_code: a.statusCode,
            error: a.error,
            duration_ms: a.durationMs,
            created_at: a.createdAt,
          })),
      }));
      const last = page[page.length - 1];
      return c.json({ results, ...(more && last ? { paging: { next: { before: last.id } } } : {}) }, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "post",
      path: "/v1/webhooks/{id}/deliveries/{deliveryId}/retry",
      tags: ["Webhooks"],
      summary: "Send a delivery again now (e.g. after fixing the endpoint)",
      security,
      request: { params: DeliveryParams },
      responses: {
        202: jsonResponse("Queued", z.object({ id: z.string(), status: z.literal("pending") })),
        ...errorResponses(...V1_ERROR_STATUSES, 404),
      },
    }),
    async (c) => {
      const { id, deliveryId } = c.req.valid("param");
      const repo = repository(c);
      const delivery = await repo.delivery(id, deliveryId);
      await repo.markPending(delivery.id);
      await c.env.ACME_WEBHOOK_QUEUE.send({
        kind: "deliver",
        deliveryId: delivery.id,
      } satisfies DeliveryMessage);
      return c.json({ id: delivery.id, status: "pending" as const }, 202);
    },
  );
