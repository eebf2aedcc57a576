import type { OpenAPIHono } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { jsonRequestBody, jsonResponse } from "../../lib/openapi.ts";
import { DELIVERY_STATUSES, DESTINATION_STATUSES, type DestinationRow } from "../connection-data/schema.ts";
import { connectionData } from "../connection-data/stub.ts";
import { createRouter, type IntegrationEnv } from "../context.ts";
import { ApiError } from "../errors.ts";
import { CHANGE_TYPES } from "../feed/change-types.ts";
import { integrationJsonBody } from "../json-body.ts";
import { problemResponses } from "../problem-responses.ts";
import { API_KEY, securedRoute } from "../secured-route.ts";
import {
  DESTINATION_DESCRIPTION_MAX_LENGTH,
  DESTINATION_URL_MAX_LENGTH,
  destinationUrlRefusal,
  EVENT_FILTERS,
  expandEvents,
} from "./destination-rules.ts";
import { DestinationPayloadSchema } from "./payload.ts";
import { toAttempt, toDestination } from "./public-destination.ts";

const TAG = "Destinations";

const EventsSchema = z
  .array(z.enum(EVENT_FILTERS))
  .min(1)
  .max(EVENT_FILTERS.length)
  .openapi({ description: "Change types to deliver; `contact.*` for every contact type (the default)" });

const UrlSchema = z
  .string()
  .max(DESTINATION_URL_MAX_LENGTH)
  .openapi({
    description:
      "Where changes are POSTed: https, on a public host (no private, loopback, link-local or special-purpose " +
      "address in any spelling; loopback only where the deployment allows it)",
    example: "https://app.example.com/hooks/acme-bridge",
  });

const DescriptionSchema = z.string().max(DESTINATION_DESCRIPTION_MAX_LENGTH).nullable();

const DESTINATION_EXAMPLE = {
  id: "dst_01jd5x8m3q0000000000000000",
  url: "https://app.example.com/hooks/acme-bridge",
  events: [...CHANGE_TYPES],
  description: "Our app",
  status: "enabled" as const,
  disabledReason: null,
  createdAt: "2026-02-01T16:00:00.000Z",
  updatedAt: "2026-02-01T16:00:00.000Z",
};

const DestinationSchema = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.enum(CHANGE_TYPES)),
    description: DescriptionSchema,
    status: z.enum(DESTINATION_STATUSES),
    disabledReason: z
      .string()
      .nullable()
      .openapi({ description: "Why the integration disabled it (a 410 from the receiver)" }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Destination", { example: DESTINATION_EXAMPLE });

const WithSecretSchema = DestinationSchema.extend({
  secret: z.string().openapi({
    description: "The Standard Webhooks signing secret (`whsec_` + 32 random bytes, base64), shown this once",
  }),
}).openapi("DestinationWithSecret", {
  example: { ...DESTINATION_EXAMPLE, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAAAAAAAAA=" },
});

const ATTEMPT_EXAMPLE = {
  id: "att_01jd5x8m3q0000000000000000",
  deliveryId: "dlv_5f0c2a9e8b7d6c5b4a3f2e1d",
  eventId: "msg_2mKq9x7vTb0000000000000000",
  seq: 42,
  attempt: 1,
  status: "pending" as const,
  responseStatus: 503,
  responseExcerpt: "Service Unavailable",
  error: "endpoint answered 503",
  durationMs: 84,
  attemptedAt: "2026-02-01T16:05:13.000Z",
  nextAttemptAt: "2026-02-01T16:05:21.000Z",
};

const AttemptSchema = z
  .object({
    id: z.string(),
    deliveryId: z.string(),
    eventId: z.string().openapi({ description: "The change's id: the `webhook-id` of every attempt" }),
    seq: z.number().int(),
    attempt: z.number().int(),
    status: z.enum(DELIVERY_STATUSES).openapi({
      description:
        "The delivery after this attempt: pending (tried again at nextAttemptAt), succeeded, failed",
    }),
    responseStatus: z.number().int().nullable(),
    responseExcerpt: z.string().openapi({ description: "The first 1 KB of the receiver's answer" }),
    error: z.string().nullable(),
    durationMs: z.number().int(),
    attemptedAt: z.string(),
    nextAttemptAt: z.string().nullable(),
  })
  .openapi("DeliveryAttempt", { example: ATTEMPT_EXAMPLE });

const IdParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/)
    .openapi({ param: { name: "id", in: "path" }, example: DESTINATION_EXAMPLE.id }),
});

/** 400 naming `url` unless the URL passes the webhook URL policy (the one Acme's subscriptions pass too). */
function checkUrl(c: Context<IntegrationEnv>, url: string): void {
  const refusal = destinationUrlRefusal(c.env, url);
  if (refusal) {
    throw new ApiError("validation_failed", refusal.sentence, {
      errors: [{ field: "url", message: refusal.problem }],
    });
  }
}

async function destinationOr404(c: Context<IntegrationEnv>, id: string): Promise<DestinationRow> {
  const row = await connectionData(c.env, c.var.connection.id).getDestination(id);
  if (!row) throw new ApiError("not_found", `Destination ${id} does not exist.`);
  return row;
}

/** The connection's destinations: where its changes are pushed, and how that went. */
export const destinationsRouter = createRouter()
  .openapi(
    securedRoute({
      method: "post",
      path: "/destinations",
      tags: [TAG],
      summary: "Push the connection's changes to a URL of yours",
      description:
        "Every change-feed entry whose type the destination takes is POSTed to it as a Standard Webhooks v1 " +
        "request (see the `webhooks` section): at least once, not ordered (each carries `seq` and the " +
        "contact's `version`: keep the newest), retried with exponential backoff and full jitter for at " +
        "least 24 hours, a 429 or 503 after its Retry-After; 410 disables the destination. The signing " +
        "secret is returned this once.",
      security: API_KEY,
      middleware: [integrationJsonBody] as const,
      request: {
        body: jsonRequestBody(
          z
            .strictObject({
              url: UrlSchema,
              events: EventsSchema.optional(),
              description: DescriptionSchema.optional(),
            })
            .openapi({
              example: { url: DESTINATION_EXAMPLE.url, events: ["contact.*"], description: "Our app" },
            }),
        ),
      },
      responses: {
        201: jsonResponse("Created, with its secret", WithSecretSchema),
        ...problemResponses(400, 401, 413, 415),
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      checkUrl(c, input.url);
      const connectionId = c.var.connection.id;
      const { destination, secret } = await connectionData(c.env, connectionId).createDestination(
        connectionId,
        {
          url: input.url,
          events: expandEvents(input.events),
          description: input.description ?? null,
        },
      );
      c.header("Location", `/api/v1/destinations/${destination.id}`);
      return c.json({ ...toDestination(destination), secret }, 201);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/destinations",
      tags: [TAG],
      summary: "The connection's destinations",
      security: API_KEY,
      responses: {
        200: jsonResponse(
          "Destinations, oldest first",
          z
            .object({ data: z.array(DestinationSchema) })
            .openapi("DestinationList", { example: { data: [DESTINATION_EXAMPLE] } }),
        ),
        ...problemResponses(401),
      },
    }),
    async (c) => {
      const rows = await connectionData(c.env, c.var.connection.id).listDestinations();
      return c.json({ data: rows.map(toDestination) }, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/destinations/{id}",
      tags: [TAG],
      summary: "One destination",
      security: API_KEY,
      request: { params: IdParams },
      responses: {
        200: jsonResponse("The destination", DestinationSchema),
        ...problemResponses(400, 401, 404),
      },
    }),
    async (c) => c.json(toDestination(await destinationOr404(c, c.req.valid("param").id)), 200),
  )
  .openapi(
    securedRoute({
      method: "patch",
      path: "/destinations/{id}",
      tags: [TAG],
      summary: "Change a destination's URL, events, description or status",
      description:
        "Disabling ends its pending deliveries as failed (recoverable with `…/recover`); enabling clears why it was disabled.",
      security: API_KEY,
      middleware: [integrationJsonBody] as const,
      request: {
        params: IdParams,
        body: jsonRequestBody(
          z
            .strictObject({
              url: UrlSchema.optional(),
              events: EventsSchema.optional(),
              description: DescriptionSchema.optional(),
              status: z.enum(DESTINATION_STATUSES).optional(),
            })
            .openapi({ example: { status: "disabled" } }),
        ),
      },
      responses: {
        200: jsonResponse("The destination as it is now", DestinationSchema),
        ...problemResponses(400, 401, 404, 413, 415),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const patch = c.req.valid("json");
      if (patch.url !== undefined) checkUrl(c, patch.url);
      const row = await connectionData(c.env, c.var.connection.id).updateDestination(id, {
        ...(patch.url !== undefined ? { url: patch.url } : {}),
        ...(patch.events !== undefined ? { events: expandEvents(patch.events) } : {}),
        ...(patch.description !== undefined ? { description: patch.description } : {}),
        ...(patch.status !== undefined ? { status: patch.status } : {}),
      });
      if (!row) throw new ApiError("not_found", `Destination ${id} does not exist.`);
      return c.json(toDestination(row), 200);
    },
  )
  .openapi(
    securedRoute({
      method: "delete",
      path: "/destinations/{id}",
      tags: [TAG],
      summary: "Delete a destination, its deliveries and their log",
      security: API_KEY,
      request: { params: IdParams },
      responses: { 204: { description: "Deleted" }, ...problemResponses(400, 401, 404) },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      if (!(await connectionData(c.env, c.var.connection.id).deleteDestination(id))) {
        throw new ApiError("not_found", `Destination ${id} does not exist.`);
      }
      return c.body(null, 204);
    },
  )
  .openapi(
    securedRoute({
      method: "post",
      path: "/destinations/{id}/rotate-secret",
      tags: [TAG],
      summary: "A new signing secret; the old one signs too for 24 hours",
      description:
        "For 24 hours every delivery carries two signatures, space-separated as Standard Webhooks allows: one " +
        "with the new secret, one with the old, so the receiver can switch when it likes.",
      security: API_KEY,
      request: { params: IdParams },
      responses: {
        200: jsonResponse("The destination and its new secret, shown this once", WithSecretSchema),
        ...problemResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const connectionId = c.var.connection.id;
      const rotated = await connectionData(c.env, connectionId).rotateDestinationSecret(connectionId, id);
      if (!rotated) throw new ApiError("not_found", `Destination ${id} does not exist.`);
      return c.json({ ...toDestination(rotated.destination), secret: rotated.secret }, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/destinations/{id}/deliveries",
      tags: [TAG],
      summary: "The destination's delivery log: attempts, newest first",
      security: API_KEY,
      request: {
        params: IdParams,
        query: z.strictObject({
          limit: z.coerce.number().int().min(1).max(100).default(20),
          cursor: z
            .string()
            .max(64)
            .regex(/^att_[a-z0-9]+$/)
            .optional()
            .openapi({ description: "`nextCursor` of the previous page", example: ATTEMPT_EXAMPLE.id }),
          status: z.enum(DELIVERY_STATUSES).optional(),
        }),
      },
      responses: {
        200: jsonResponse(
          "Attempts",
          z
            .object({ data: z.array(AttemptSchema), nextCursor: z.string().nullable() })
            .openapi("DeliveryAttemptList", { example: { data: [ATTEMPT_EXAMPLE], nextCursor: null } }),
        ),
        ...problemResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { limit, cursor, status } = c.req.valid("query");
      await destinationOr404(c, id);
      const rows = await connectionData(c.env, c.var.connection.id).deliveryAttempts(id, {
        limit,
        before: cursor,
        status,
      });
      const nextCursor = rows.length === limit ? (rows[rows.length - 1]?.id ?? null) : null;
      return c.json({ data: rows.map(toAttempt), nextCursor }, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "post",
      path: "/destinations/{id}/deliveries/{deliveryId}/retry",
      tags: [TAG],
      summary: "Send one delivery again now",
      security: API_KEY,
      request: {
        params: IdParams.extend({
          deliveryId: z
            .string()
            .min(1)
            .max(64)
            .regex(/^dlv_[a-z0-9]+$/)
            .openapi({ param: { name: "deliveryId", in: "path" }, example: ATTEMPT_EXAMPLE.deliveryId }),
        }),
      },
      responses: {
        202: jsonResponse(
          "It is pending again, due now",
          z
            .object({ id: z.string(), seq: z.number().int(), status: z.literal("pending") })
            .openapi("DeliveryRetried", {
              example: { id: ATTEMPT_EXAMPLE.deliveryId, seq: 42, status: "pending" },
            }),
        ),
        ...problemResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const { id, deliveryId } = c.req.valid("param");
      const connectionId = c.var.connection.id;
      const retried = await connectionData(c.env, connectionId).retryDelivery(connectionId, id, deliveryId);
      if (!retried)
        throw new ApiError("not_found", `Delivery ${deliveryId} of destination ${id} does not exist.`);
      return c.json({ ...retried, status: "pending" as const }, 202);
    },
  )
  .openapi(
    securedRoute({
      method: "post",
      path: "/destinations/{id}/recover",
      tags: [TAG],
      summary: "Send again every change since a time that has not been delivered",
      description:
        "Every feed entry recorded since `since` that the destination takes and that did not succeed (failed, " +
        "or never sent because the destination was disabled or made later) is sent again, now.",
      security: API_KEY,
      middleware: [integrationJsonBody] as const,
      request: {
        params: IdParams,
        body: jsonRequestBody(
          z
            .strictObject({ since: z.iso.datetime({ offset: true }) })
            .openapi({ example: { since: "2026-02-01T00:00:00Z" } }),
        ),
      },
      responses: {
        202: jsonResponse(
          "How many are pending again",
          z
            .object({ pending: z.number().int() })
            .openapi("DeliveriesRecovered", { example: { pending: 12 } }),
        ),
        ...problemResponses(400, 401, 404, 413, 415),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { since } = c.req.valid("json");
      const connectionId = c.var.connection.id;
      await destinationOr404(c, id);
      const pending = await connectionData(c.env, connectionId).recoverDeliveries(
        connectionId,
        id,
        new Date(since).toISOString(),
      );
      return c.json({ pending }, 202);
    },
  );

/**
 * Declares what destinations receive in the document's `webhooks` section (on the app's own
 * registry: a router's would prefix the name with its mount path).
 */
export function registerDestinationWebhook(registry: OpenAPIHono["openAPIRegistry"]): void {
  registry.registerWebhook({
    method: "post",
    path: "contact.changed",
    tags: [TAG],
    summary: "A change of the connection's contacts, pushed to a destination",
    description:
      "Standard Webhooks v1: `webhook-id` is the change's id (the same on every attempt), `webhook-timestamp` " +
      "the attempt's time in seconds, `webhook-signature` one `v1,<base64>` per secret, space-separated (two " +
      "for 24 hours after a rotation). Answer 2xx to acknowledge; 410 disables the destination; anything " +
      "else, or no answer within DESTINATION_TIMEOUT_MS, is retried.",
    request: {
      headers: z.object({
        "webhook-id": z.string(),
        "webhook-timestamp": z.string().regex(/^\d+$/).openapi({ example: "1769961913" }),
        "webhook-signature": z.string(),
      }),
      body: jsonRequestBody(DestinationPayloadSchema),
    },
    responses: {
      200: { description: "Received (any 2xx)" },
      410: { description: "Gone: the destination is disabled at once" },
    },
  });
}
