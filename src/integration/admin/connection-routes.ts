import { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { sha256Hex } from "../../lib/crypto.ts";
import { withIdTag } from "../../lib/id-tag.ts";
import { newId, randomSecret } from "../../lib/ids.ts";
import { WebhookSecretSchema } from "../../lib/webhook-secret.ts";
import { forgetApiKey } from "../auth/api-key.ts";
import { connectionWebhookUrl, requireConnection } from "../connections/connection-store.ts";
import { createConnection, startBackfill } from "../connections/create-connection.ts";
import { EndUserIdSchema } from "../connections/end-user-id.ts";
import { acmeClientFor, createRouter, publicOrigin } from "../context.ts";
import {
  apiKeys,
  CONNECTION_METHODS,
  CONNECTION_STATUSES,
  type ConnectionRow,
  connections,
} from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { integrationJsonBody } from "../json-body.ts";
import { ACME_FAILURE_STATUSES, problemResponses } from "../problem-responses.ts";
import { ADMIN_TOKEN, securedRoute } from "../secured-route.ts";
import { replaceWebhookSubscription, storeWebhookSecret } from "./webhook-subscription.ts";

const VSCHAR = /^[\x20-\x7e]*$/;

const ConnectionInputSchema = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .max(100)
      .refine((s) => s.isWellFormed(), "must be well-formed Unicode (no lone surrogates)"),
    acmeBaseUrl: z
      .url({ protocol: /^https?$/ })
      .nullable()
      .default(null)
      .openapi({ description: "Acme's base URL (…/acme); null means the deployment default" }),
    // RFC 6749 A.1, A.2: client_id and client_secret are VSCHAR (%x20-7E).
    acmeClientId: z
      .string()
      .min(1)
      .max(200)
      .regex(VSCHAR, "printable ASCII only (RFC 6749 A.1)")
      .openapi({ example: "cl_01jd5x8m3q0000000000000000" }),
    acmeClientSecret: z
      .string()
      .min(1)
      .max(500)
      .regex(VSCHAR, "printable ASCII only (RFC 6749 A.2)")
      .openapi({ example: "cs_s3cr3t-from-acme" }),
    acmeWebhookSecret: WebhookSecretSchema.optional().openapi({
      description:
        "The whsec_ secret of a subscription made at Acme by hand (see also …/webhook-subscription)",
    }),
  })
  .openapi("ConnectionInput", {
    example: {
      name: "Acme production",
      acmeClientId: "cl_01jd5x8m3q0000000000000000",
      acmeClientSecret: "cs_s3cr3t-from-acme",
    },
  });

const ConnectionSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    acmeBaseUrl: z.string().nullable(),
    acmeClientId: z.string().openapi({
      description:
        "The Acme account: its client id (client_credentials), or the account the OAuth grant acts on",
    }),
    method: z.enum(CONNECTION_METHODS).openapi({
      description:
        "`client_credentials`: the account's own client id and secret; `oauth`: a grant a user of the account approved (connect flow), refreshed with rotating refresh tokens",
    }),
    endUserId: z.string().nullable().openapi({
      description:
        "The product's id for the customer who connected (connect sessions); null when made by an operator",
    }),
    status: z.enum(CONNECTION_STATUSES).openapi({
      description:
        "`needs_reauth`: Acme refused the OAuth grant; calls answer 502 `connection_needs_reauth` until a connect session for the same end user repairs it",
    }),
    webhookUrl: z.string().openapi({ description: "Where Acme must send this connection's webhooks" }),
    webhooksConfigured: z.boolean(),
    createdAt: z.string(),
  })
  .openapi("Connection", {
    example: {
      id: "conn_01jd5x8m3q0000000000000000",
      name: "Acme production",
      acmeBaseUrl: null,
      acmeClientId: "cl_01jd5x8m3q0000000000000000",
      method: "oauth",
      endUserId: "user_4711",
      status: "active",
      webhookUrl: "https://bridge.example.com/webhooks/acme/conn_01jd5x8m3q0000000000000000",
      webhooksConfigured: true,
      createdAt: "2026-01-15T09:00:00.000Z",
    },
  });

const ConnectionListQuerySchema = z.object({
  endUserId: EndUserIdSchema.optional().openapi({
    description: "Only this end user's connections (exact match)",
  }),
});

const ApiKeyCreatedSchema = z
  .object({
    id: z.string(),
    connectionId: z.string(),
    prefix: z.string(),
    apiKey: z.string().openapi({ description: "Shown once; only its hash is stored." }),
    createdAt: z.string(),
  })
  .openapi("ApiKeyCreated", {
    example: {
      id: "key_01jd5x8m3q0000000000000000",
      connectionId: "conn_01jd5x8m3q0000000000000000",
      prefix: "ab_4f9Kx2",
      apiKey: "ab_4f9Kx2pQ7mZ1vL8sT3wY6bN0cR5dE9gH",
      createdAt: "2026-01-15T09:00:05.000Z",
    },
  });

function publicConnection(row: ConnectionRow, origin: string) {
  return {
    id: row.id,
    name: row.name,
    acmeBaseUrl: row.acmeBaseUrl,
    acmeClientId: row.acmeClientId,
    method: row.method,
    endUserId: row.endUserId,
    status: row.status,
    webhookUrl: connectionWebhookUrl(origin, row.id),
    webhooksConfigured: row.webhookSecretEnc !== null,
    createdAt: row.createdAt,
  };
}

export const connectionAdminRouter = createRouter();

connectionAdminRouter
  .openapi(
    securedRoute({
      method: "post",
      path: "/v1/admin/connections",
      tags: ["Admin"],
      summary: "Connect an Acme account (its client secret is encrypted at rest)",
      security: ADMIN_TOKEN,
      middleware: [integrationJsonBody] as const,
      request: {
        body: { required: true, content: { "application/json": { schema: ConnectionInputSchema } } },
      },
      responses: {
        201: { description: "Created", content: { "application/json": { schema: ConnectionSchema } } },
        ...problemResponses(400, 401, 413, 415),
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      const row = await createConnection(c.env.DB, c.var.config, {
        ...input,
        method: "client_credentials",
        endUserId: null,
      });
      // The mirror and the feed start from everything already at Acme.
      await startBackfill(c.env, row.id);
      return c.json(publicConnection(row, publicOrigin(c)), 201);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/v1/admin/connections",
      tags: ["Admin"],
      summary: "List connections (secrets are never returned), or one end user's",
      security: ADMIN_TOKEN,
      request: { query: ConnectionListQuerySchema },
      responses: {
        200: {
          description: "Connections",
          content: {
            "application/json": {
              schema: z.object({ data: z.array(ConnectionSchema) }).openapi({
                example: {
                  data: [
                    {
                      id: "conn_01jd5x8m3q0000000000000000",
                      name: "Acme (user_4711)",
                      acmeBaseUrl: null,
                      acmeClientId: "cl_01jd5x8m3q0000000000000000",
                      method: "oauth",
                      endUserId: "user_4711",
                      status: "needs_reauth",
                      webhookUrl: "https://bridge.example.com/webhooks/acme/conn_01jd5x8m3q0000000000000000",
                      webhooksConfigured: true,
                      createdAt: "2026-01-15T09:00:00.000Z",
                    },
                  ],
                },
              }),
            },
          },
        },
        ...problemResponses(400, 401),
      },
    }),
    async (c) => {
      const { endUserId } = c.req.valid("query");
      const rows = await drizzle(c.env.DB)
        .select()
        .from(connections)
        .where(endUserId === undefined ? undefined : eq(connections.endUserId, endUserId))
        .orderBy(connections.id);
      return c.json({ data: rows.map((row) => publicConnection(row, publicOrigin(c))) }, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "post",
      path: "/v1/admin/connections/{id}/api-keys",
      tags: ["Admin"],
      summary: "Issue an API key for a connection (returned once)",
      security: ADMIN_TOKEN,
      request: { params: z.object({ id: z.string().min(1).max(64) }) },
      responses: {
        201: { description: "Created", content: { "application/json": { schema: ApiKeyCreatedSchema } } },
        ...problemResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const connectionId = c.req.valid("param").id;
      await requireConnection(c.env.DB, connectionId);
      // Tagged, so a random bearer key is refused without reading D1.
      const apiKey = await withIdTag(c.var.config.idTagKey, randomSecret(32, "ab_"));
      const row = {
        id: newId("key"),
        connectionId,
        keyHash: await sha256Hex(apiKey),
        prefix: apiKey.slice(0, 9),
        createdAt: new Date().toISOString(),
        revokedAt: null,
      };
      await drizzle(c.env.DB).insert(apiKeys).values(row);
      return c.json({ id: row.id, connectionId, prefix: row.prefix, apiKey, createdAt: row.createdAt }, 201);
    },
  )
  .openapi(
    securedRoute({
      method: "delete",
      path: "/v1/admin/api-keys/{id}",
      tags: ["Admin"],
      summary: "Revoke an API key",
      security: ADMIN_TOKEN,
      request: { params: z.object({ id: z.string().min(1).max(64) }) },
      responses: { 204: { description: "Revoked" }, ...problemResponses(400, 401, 404) },
    }),
    async (c) => {
      const revoked = await drizzle(c.env.DB)
        .update(apiKeys)
        .set({ revokedAt: new Date().toISOString() })
        .where(eq(apiKeys.id, c.req.valid("param").id))
        .returning({ keyHash: apiKeys.keyHash })
        .get();
      if (!revoked) throw new ApiError("not_found", "No such API key.");
      forgetApiKey(revoked.keyHash);
      return c.body(null, 204);
    },
  );

const SubscriptionCreatedSchema = z
  .object({ subscriptionId: z.string(), url: z.string(), events: z.array(z.string()) })
  .openapi("WebhookSubscriptionCreated", {
    example: {
      subscriptionId: "wh_01jd5x8m3q0000000000000000",
      url: "https://bridge.example.com/webhooks/acme/conn_01jd5x8m3q0000000000000000",
      events: ["contact.created", "contact.updated", "contact.deleted"],
    },
  });

connectionAdminRouter
  .openapi(
    securedRoute({
      method: "put",
      path: "/v1/admin/connections/{id}/webhook-secret",
      tags: ["Admin"],
      summary: "Set the whsec_ secret of a webhook subscription made at Acme by hand",
      security: ADMIN_TOKEN,
      middleware: [integrationJsonBody] as const,
      request: {
        params: z.object({ id: z.string().min(1).max(64) }),
        body: {
          required: true,
          content: {
            "application/json": {
              schema: z
                .strictObject({ secret: WebhookSecretSchema })
                .openapi({ example: { secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" } }),
            },
          },
        },
      },
      responses: { 204: { description: "Stored (encrypted)" }, ...problemResponses(400, 401, 404, 413, 415) },
    }),
    async (c) => {
      const connection = await requireConnection(c.env.DB, c.req.valid("param").id);
      await storeWebhookSecret(
        c.env.DB,
        c.var.config.secretKeys,
        connection,
        c.req.valid("json").secret,
        null,
      );
      return c.body(null, 204);
    },
  )
  .openapi(
    securedRoute({
      method: "post",
      path: "/v1/admin/connections/{id}/webhook-subscription",
      tags: ["Admin"],
      summary: "Subscribe this connection's webhook URL at Acme and keep the signing secret",
      description:
        "Uses the connection's own Acme credentials (scope webhooks.manage). The URL is " +
        "`{PUBLIC_BASE_URL or this request's origin}/webhooks/acme/{id}`. Idempotent: the " +
        "connection keeps one subscription; calling again makes a new one (new secret) and " +
        "deletes at Acme the older ones at this URL, including any made elsewhere.",
      security: ADMIN_TOKEN,
      request: { params: z.object({ id: z.string().min(1).max(64) }) },
      responses: {
        201: {
          description: "Subscribed",
          content: { "application/json": { schema: SubscriptionCreatedSchema } },
        },
        ...problemResponses(400, 401, 404, ...ACME_FAILURE_STATUSES),
      },
    }),
    async (c) => {
      const connection = await requireConnection(c.env.DB, c.req.valid("param").id);
      const url = connectionWebhookUrl(publicOrigin(c), connection.id);
      const { subscriptionId, events } = await replaceWebhookSubscription(
        c.env.DB,
        c.var.config.secretKeys,
        acmeClientFor(c, connection),
        connection,
        url,
      );
      return c.json({ subscriptionId, url, events }, 201);
    },
  );
