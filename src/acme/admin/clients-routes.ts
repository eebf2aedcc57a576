import { z } from "@hono/zod-openapi";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { newId, randomSecret } from "../../lib/ids.ts";
import { ACME_SCOPES } from "../auth/bearer.ts";
import { hashClientSecret } from "../auth/client-secret.ts";
import { RATE_CLASSES, RatePolicySchema } from "../config.ts";
import { createAcmeRouter } from "../context.ts";
import { clients, oauthApps } from "../db/schema.ts";
import { AcmeError } from "../errors.ts";
import { acmeJsonBody } from "../json-body.ts";
import { ADMIN_ERROR_STATUSES, errorResponses } from "../openapi-schemas.ts";
import { limiterFor } from "../rate-limit/limiter-client.ts";
import { ADMIN_TOKEN, securedRoute } from "../secured-route.ts";

const RateOverridesSchema = z
  .strictObject({
    read: RatePolicySchema.nullable().optional(),
    write: RatePolicySchema.nullable().optional(),
    delete: RatePolicySchema.nullable().optional(),
    token: RatePolicySchema.nullable().optional(),
    token_failure: RatePolicySchema.nullable().optional(),
  })
  .openapi("AcmeRateLimitOverrides", {
    example: {
      read: { limit: 600, windowSeconds: 60 },
      write: { limit: 120, windowSeconds: 60 },
      delete: null,
    },
  });

const ClientCreateSchema = z
  .strictObject({
    name: z.string().min(1).max(100),
    scopes: z
      .array(z.enum(ACME_SCOPES))
      .min(1)
      .default([...ACME_SCOPES]),
    rate_limits: RateOverridesSchema.optional(),
    /** Lets seeding scripts choose a stable id; generated when absent. */
    client_id: z
      .string()
      .regex(/^[a-z0-9_-]{3,64}$/)
      .optional()
      .openapi({ example: "demo_client" }),
  })
  .openapi("AcmeClientInput", {
    example: { name: "CRM sync", scopes: ["contacts.read", "contacts.write"] },
  });

const ClientCreatedSchema = z
  .object({
    client_id: z.string(),
    client_secret: z.string().openapi({ description: "Shown once; only a keyed hash is stored." }),
    name: z.string(),
    scopes: z.array(z.string()),
  })
  .openapi("AcmeClientCreated", {
    example: {
      client_id: "cl_01jd5x8m3q0000000000000000",
      client_secret: "cs_9fK2mQ7xVb4nT1pL6sW3yZ8cR0dE5gHj",
      name: "CRM sync",
      scopes: ["contacts.read", "contacts.write"],
    },
  });

export const clientAdminRouter = createAcmeRouter();

clientAdminRouter
  .openapi(
    securedRoute({
      method: "post",
      path: "/admin/clients",
      tags: ["Admin"],
      summary: "Register an OAuth client (its own account); the secret is returned once",
      security: ADMIN_TOKEN,
      middleware: [acmeJsonBody] as const,
      request: { body: { required: true, content: { "application/json": { schema: ClientCreateSchema } } } },
      responses: {
        201: { description: "Created", content: { "application/json": { schema: ClientCreatedSchema } } },
        ...errorResponses(...ADMIN_ERROR_STATUSES, 409, 415),
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      const clientId = input.client_id ?? newId("cl");
      const secret = randomSecret(32, "acs_");
      const db = drizzle(c.env.ACME_DB);
      // Apps and clients share one namespace of ids at the token endpoint.
      const app = await db
        .select({ id: oauthApps.clientId })
        .from(oauthApps)
        .where(eq(oauthApps.clientId, clientId))
        .get();
      if (app) throw new AcmeError("conflict", `Client ${clientId} already exists.`);
      const inserted = await db
        .insert(clients)
        .values({
          id: clientId,
          name: input.name,
          secretHash: await hashClientSecret(c.var.config.clientSecretPepper, secret),
          scopes: input.scopes.join(" "),
          createdAt: new Date().toISOString(),
        })
        .onConflictDoNothing()
        .returning()
        .get();
      if (!inserted) throw new AcmeError("conflict", `Client ${clientId} already exists.`);
      // Every class is written, the absent ones as null: a new client starts from the defaults
      // plus what it asked for, never from limits stored under its id before it existed.
      await limiterFor(c.env, clientId).setOverrides(
        Object.fromEntries(
          RATE_CLASSES.map((rateClass) => [rateClass, input.rate_limits?.[rateClass] ?? null]),
        ),
      );
      return c.json(
        { client_id: clientId, client_secret: secret, name: input.name, scopes: input.scopes },
        201,
      );
    },
  )
  .openapi(
    securedRoute({
      method: "put",
      path: "/admin/clients/{id}/rate-limits",
      tags: ["Admin"],
      summary: "Override this client's rate limits (null restores the default for a class)",
      security: ADMIN_TOKEN,
      middleware: [acmeJsonBody] as const,
      request: {
        params: z.object({ id: z.string().min(1).max(64) }),
        body: { required: true, content: { "application/json": { schema: RateOverridesSchema } } },
      },
      responses: {
        204: { description: "Stored; the client's current windows restart" },
        ...errorResponses(...ADMIN_ERROR_STATUSES, 404, 415),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const client = await drizzle(c.env.ACME_DB)
        .select({ id: clients.id })
        .from(clients)
        .where(eq(clients.id, id))
        .get();
      if (!client) throw new AcmeError("not_found", `Client ${id} does not exist.`);
      await limiterFor(c.env, id).setOverrides(c.req.valid("json"));
      return c.body(null, 204);
    },
  );
