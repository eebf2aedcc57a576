import { z } from "@hono/zod-openapi";
import { and, desc, eq, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { newId, randomSecret } from "../../lib/ids.ts";
import { queryInteger } from "../../lib/query-integer.ts";
import { hashClientSecret } from "../auth/client-secret.ts";
import { createAcmeRouter } from "../context.ts";
import { clients, oauthApps, oauthGrants, oauthTokenLog, TOKEN_LOG_OUTCOMES } from "../db/schema.ts";
import { AcmeError } from "../errors.ts";
import { acmeJsonBody } from "../json-body.ts";
import { redirectUriProblem } from "../oauth/redirect-uri.ts";
import { ADMIN_ERROR_STATUSES, errorResponses } from "../openapi-schemas.ts";
import { ADMIN_TOKEN, securedRoute } from "../secured-route.ts";

/** The most entries GET …/token-log returns. */
export const TOKEN_LOG_MAX_LIMIT = 1000;

/**
 * What the document states of a redirect URI (https, or http to a loopback host; no userinfo or
 * fragment); `redirectUriProblem` checks the same and that it parses.
 */
const REDIRECT_URI_PATTERN =
  /^(?:https:\/\/[A-Za-z0-9]+(?:[.-][A-Za-z0-9]+)*|http:\/\/(?:127\.0\.0\.1|localhost|\[::1\]))(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?(?:\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$/;

const RedirectUriSchema = z
  .string()
  .min(1)
  .max(2000)
  .regex(REDIRECT_URI_PATTERN)
  .superRefine((uri, ctx) => {
    const problem = redirectUriProblem(uri);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  })
  .openapi({
    description:
      "Absolute https URI (http only for 127.0.0.1, localhost, [::1]), no userinfo or fragment; " +
      "authorization requests must name it exactly",
    example: "https://app.example.com/oauth/callback",
  });

const RedirectUrisSchema = z.array(RedirectUriSchema).min(1).max(10);

const AppCreateSchema = z
  .strictObject({
    name: z.string().min(1).max(100),
    redirectUris: RedirectUrisSchema,
    /** Lets seeding scripts choose a stable id; generated when absent. */
    client_id: z
      .string()
      .regex(/^[a-z0-9_-]{3,64}$/)
      .optional()
      .openapi({ example: "acme_bridge" }),
    /** Lets seeding scripts whose configuration already holds the secret keep it. */
    client_secret: z.string().min(32).max(200).optional(),
  })
  .openapi("AcmeAppInput", {
    example: { name: "acme-bridge", redirectUris: ["https://bridge.example.com/connect/callback"] },
  });

const AppPatchSchema = z
  .strictObject({ name: z.string().min(1).max(100).optional(), redirectUris: RedirectUrisSchema.optional() })
  .openapi("AcmeAppPatch", { example: { redirectUris: ["http://127.0.0.1:8788/connect/callback"] } });

const AppSchema = z
  .object({ client_id: z.string(), name: z.string(), redirectUris: z.array(z.string()) })
  .openapi("AcmeApp", {
    example: {
      client_id: "app_01jd5x8m3q0000000000000000",
      name: "acme-bridge",
      redirectUris: ["https://bridge.example.com/connect/callback"],
    },
  });

const AppCreatedSchema = AppSchema.extend({
  client_secret: z.string().openapi({ description: "Shown once; only a keyed hash is stored." }),
}).openapi("AcmeAppCreated", {
  example: {
    client_id: "app_01jd5x8m3q0000000000000000",
    client_secret: "aps_9fK2mQ7xVb4nT1pL6sW3yZ8cR0dE5gHjK2mQ7xVb4nT",
    name: "acme-bridge",
    redirectUris: ["https://bridge.example.com/connect/callback"],
  },
});

const ClientIdParams = z.object({
  clientId: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "clientId", in: "path" }, example: "app_01jd5x8m3q0000000000000000" }),
});

const TokenLogEntrySchema = z
  .object({
    at: z.string().openapi({ format: "date-time" }),
    grant_type: z.string(),
    grant_id: z.string().nullable(),
    refresh_token_id: z.string().nullable(),
    outcome: z.enum(TOKEN_LOG_OUTCOMES),
  })
  .openapi("AcmeTokenLogEntry", {
    example: {
      at: "2026-01-05T10:00:00.000Z",
      grant_type: "refresh_token",
      grant_id: "grt_01jd5x8m3q0000000000000000",
      refresh_token_id: "rtid_01jd5x8m3q0000000000000000",
      outcome: "issued",
    },
  });

const TokenLogSchema = z.object({ data: z.array(TokenLogEntrySchema) }).openapi("AcmeTokenLog", {
  example: {
    data: [
      {
        at: "2026-01-05T10:00:00.000Z",
        grant_type: "authorization_code",
        grant_id: "grt_01jd5x8m3q0000000000000000",
        refresh_token_id: null,
        outcome: "issued",
      },
    ],
  },
});

function appJson(row: typeof oauthApps.$inferSelect) {
  return { client_id: row.clientId, name: row.name, redirectUris: JSON.parse(row.redirectUris) as string[] };
}

export const appAdminRouter = createAcmeRouter();

appAdminRouter
  .openapi(
    securedRoute({
      method: "post",
      path: "/admin/apps",
      tags: ["Admin"],
      summary: "Register a third-party app (authorization-code grant); the secret is returned once",
      description:
        "An app acts for the accounts whose users approve it on /oauth/authorize. Its client_id shares " +
        "the namespace of clients: an id either already has is 409.",
      security: ADMIN_TOKEN,
      middleware: [acmeJsonBody] as const,
      request: { body: { required: true, content: { "application/json": { schema: AppCreateSchema } } } },
      responses: {
        201: { description: "Registered", content: { "application/json": { schema: AppCreatedSchema } } },
        ...errorResponses(...ADMIN_ERROR_STATUSES, 409, 415),
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      const clientId = input.client_id ?? newId("app");
      const secret = input.client_secret ?? randomSecret(32, "aps_");
      const db = drizzle(c.env.ACME_DB);
      const taken = await db.select({ id: clients.id }).from(clients).where(eq(clients.id, clientId)).get();
      if (taken) throw new AcmeError("conflict", `Client ${clientId} already exists.`);
      const now = new Date().toISOString();
      const inserted = await db
        .insert(oauthApps)
        .values({
          clientId,
          name: input.name,
          secretHash: await hashClientSecret(c.var.config.clientSecretPepper, secret),
          redirectUris: JSON.stringify(input.redirectUris),
          createdAt: now,
          updatedAt: now,
        })
        .onConflictDoNothing()
        .returning()
        .get();
      if (!inserted) throw new AcmeError("conflict", `App ${clientId} already exists.`);
      return c.json({ ...appJson(inserted), client_secret: secret }, 201);
    },
  )
  .openapi(
    securedRoute({
      method: "patch",
      path: "/admin/apps/{clientId}",
      tags: ["Admin"],
      summary: "Rename an app or replace its redirect URIs",
      security: ADMIN_TOKEN,
      middleware: [acmeJsonBody] as const,
      request: {
        params: ClientIdParams,
        body: { required: true, content: { "application/json": { schema: AppPatchSchema } } },
      },
      responses: {
        200: { description: "The app as it is now", content: { "application/json": { schema: AppSchema } } },
        ...errorResponses(...ADMIN_ERROR_STATUSES, 404, 415),
      },
    }),
    async (c) => {
      const { clientId } = c.req.valid("param");
      const input = c.req.valid("json");
      const updated = await drizzle(c.env.ACME_DB)
        .update(oauthApps)
        .set({
          ...(input.name !== undefined ? { name: input.name } : {}),
          ...(input.redirectUris !== undefined ? { redirectUris: JSON.stringify(input.redirectUris) } : {}),
          updatedAt: new Date().toISOString(),
        })
        .where(eq(oauthApps.clientId, clientId))
        .returning()
        .get();
      if (!updated) throw new AcmeError("not_found", `App ${clientId} does not exist.`);
      return c.json(appJson(updated), 200);
    },
  )
  .openapi(
    securedRoute({
      method: "delete",
      path: "/admin/apps/{clientId}/grants",
      tags: ["Admin"],
      summary: "Revoke every grant an account gave the app (its tokens stop working at once)",
      security: ADMIN_TOKEN,
      request: {
        params: ClientIdParams,
        query: z.object({
          account: z.string().min(1).max(64).openapi({
            description: "The account (Acme client id)",
            example: "cl_01jd5x8m3q0000000000000000",
          }),
        }),
      },
      responses: {
        204: { description: "Revoked (or there was nothing to revoke)" },
        ...errorResponses(...ADMIN_ERROR_STATUSES, 404),
      },
    }),
    async (c) => {
      const { clientId } = c.req.valid("param");
      const { account } = c.req.valid("query");
      const db = drizzle(c.env.ACME_DB);
      const app = await db
        .select({ id: oauthApps.clientId })
        .from(oauthApps)
        .where(eq(oauthApps.clientId, clientId))
        .get();
      if (!app) throw new AcmeError("not_found", `App ${clientId} does not exist.`);
      await db
        .update(oauthGrants)
        .set({ revokedAt: new Date().toISOString(), revokedReason: "admin" })
        .where(
          and(
            eq(oauthGrants.appClientId, clientId),
            eq(oauthGrants.accountId, account),
            isNull(oauthGrants.revokedAt),
          ),
        );
      return c.body(null, 204);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/admin/apps/{clientId}/token-log",
      tags: ["Admin"],
      summary: "The app's token-endpoint requests, newest first",
      description:
        "One entry per request to /oauth/token by the app: `issued` (tokens returned), `reused` (a used " +
        "code or refresh token presented again; its grant is revoked), `revoked` (the grant was revoked " +
        "before), `invalid` (anything else refused). `refresh_token_id` is the refresh token presented.",
      security: ADMIN_TOKEN,
      request: {
        params: ClientIdParams,
        query: z.object({
          limit: queryInteger({ min: 1, max: TOKEN_LOG_MAX_LIMIT, fallback: 100 }).openapi({
            type: "integer",
            minimum: 1,
            maximum: TOKEN_LOG_MAX_LIMIT,
            default: 100,
            example: 100,
          }),
        }),
      },
      responses: {
        200: { description: "The log", content: { "application/json": { schema: TokenLogSchema } } },
        ...errorResponses(...ADMIN_ERROR_STATUSES, 404),
      },
    }),
    async (c) => {
      const { clientId } = c.req.valid("param");
      const { limit } = c.req.valid("query");
      const db = drizzle(c.env.ACME_DB);
      const app = await db
        .select({ id: oauthApps.clientId })
        .from(oauthApps)
        .where(eq(oauthApps.clientId, clientId))
        .get();
      if (!app) throw new AcmeError("not_found", `App ${clientId} does not exist.`);
      const rows = await db
        .select()
        .from(oauthTokenLog)
        .where(eq(oauthTokenLog.appClientId, clientId))
        .orderBy(desc(oauthTokenLog.id))
        .limit(limit)
        .all();
      return c.json(
        {
          data: rows.map((row) => ({
            at: row.at,
            grant_type: row.grantType,
            grant_id: row.grantId,
            refresh_token_id: row.refreshTokenId,
            outcome: row.outcome,
          })),
        },
        200,
      );
    },
  );
