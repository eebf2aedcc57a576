import { createRoute, z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { sha256Hex } from "../../lib/crypto.ts";
import { newId, randomSecret } from "../../lib/ids.ts";
import { forgetApiKey, requireAdmin } from "../auth/api-key.ts";
import { ProblemSchema } from "../contacts/schemas.ts";
import { createRouter } from "../context.ts";
import { apiKeys, type ConnectionRow, connections } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { integrationJsonBody } from "../json-body.ts";
import { sealSecret } from "../../lib/secret-box.ts";

const ConnectionInputSchema = z
  .strictObject({
    name: z.string().min(1).max(100),
    acmeBaseUrl: z
      .url({ protocol: /^https?$/ })
      .nullable()
      .default(null)
      .openapi({ description: "Acme's base URL (…/acme); null means the deployment default" }),
    acmeClientId: z.string().min(1).max(200),
    acmeClientSecret: z.string().min(1).max(500),
  })
  .openapi("ConnectionInput");

const ConnectionSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    acmeBaseUrl: z.string().nullable(),
    acmeClientId: z.string(),
    createdAt: z.string(),
  })
  .openapi("Connection");

const ApiKeyCreatedSchema = z
  .object({
    id: z.string(),
    connectionId: z.string(),
    prefix: z.string(),
    apiKey: z.string().openapi({ description: "Shown once; only its hash is stored." }),
    createdAt: z.string(),
  })
  .openapi("ApiKeyCreated");

const problems = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      s,
      { description: "Problem", content: { "application/problem+json": { schema: ProblemSchema } } },
    ]),
  );

const security = [{ AdminToken: [] }];

function publicConnection(row: ConnectionRow) {
  return {
    id: row.id,
    name: row.name,
    acmeBaseUrl: row.acmeBaseUrl,
    acmeClientId: row.acmeClientId,
    createdAt: row.createdAt,
  };
}

export const connectionAdminRouter = createRouter();
connectionAdminRouter.use("/v1/admin/*", requireAdmin());

connectionAdminRouter
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/admin/connections",
      tags: ["Admin"],
      summary: "Connect an Acme account (its client secret is encrypted at rest)",
      security,
      middleware: [integrationJsonBody] as const,
      request: {
        body: { required: true, content: { "application/json": { schema: ConnectionInputSchema } } },
      },
      responses: {
        201: { description: "Created", content: { "application/json": { schema: ConnectionSchema } } },
        ...problems(400, 401, 413, 415),
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      const id = newId("conn");
      const row: ConnectionRow = {
        id,
        name: input.name,
        acmeBaseUrl: input.acmeBaseUrl,
        acmeClientId: input.acmeClientId,
        acmeClientSecretEnc: await sealSecret(c.var.config.encryptionKey, input.acmeClientSecret, id),
        createdAt: new Date().toISOString(),
      };
      await drizzle(c.env.DB).insert(connections).values(row);
      return c.json(publicConnection(row), 201);
    },
  )
  .openapi(
    createRoute({
      method: "get",
      path: "/v1/admin/connections",
      tags: ["Admin"],
      summary: "List connections (secrets are never returned)",
      security,
      responses: {
        200: {
          description: "Connections",
          content: { "application/json": { schema: z.object({ data: z.array(ConnectionSchema) }) } },
        },
        ...problems(401),
      },
    }),
    async (c) => {
      const rows = await drizzle(c.env.DB).select().from(connections).orderBy(connections.id);
      return c.json({ data: rows.map(publicConnection) }, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/v1/admin/connections/{id}/api-keys",
      tags: ["Admin"],
      summary: "Issue an API key for a connection (returned once)",
      security,
      request: { params: z.object({ id: z.string().min(1).max(64) }) },
      responses: {
        201: { description: "Created", content: { "application/json": { schema: ApiKeyCreatedSchema } } },
        ...problems(401, 404),
      },
    }),
    async (c) => {
      const connectionId = c.req.valid("param").id;
      const db = drizzle(c.env.DB);
      const connection = await db.select().from(connections).where(eq(connections.id, connectionId)).get();
      if (!connection) throw new ApiError("not_found", `Connection ${connectionId} does not exist.`);
      const apiKey = randomSecret(32, "ab_");
      const row = {
        id: newId("key"),
        connectionId,
        keyHash: await sha256Hex(apiKey),
        prefix: apiKey.slice(0, 9),
        createdAt: new Date().toISOString(),
        revokedAt: null,
      };
      await db.insert(apiKeys).values(row);
      return c.json({ id: row.id, connectionId, prefix: row.prefix, apiKey, createdAt: row.createdAt }, 201);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/v1/admin/api-keys/{id}",
      tags: ["Admin"],
      summary: "Revoke an API key",
      security,
      request: { params: z.object({ id: z.string().min(1).max(64) }) },
      responses: { 204: { description: "Revoked" }, ...problems(401, 404) },
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
