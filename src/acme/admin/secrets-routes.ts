import { z } from "@hono/zod-openapi";
import { RESEAL_BATCH_MAX } from "../../lib/reseal-batch.ts";
import { createAcmeRouter } from "../context.ts";
import { ADMIN_ERROR_STATUSES, errorResponses } from "../openapi-schemas.ts";
import { ADMIN_TOKEN, securedRoute } from "../secured-route.ts";
import { resealSubscriptions } from "../webhooks/reseal-subscriptions.ts";

const ResealQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(RESEAL_BATCH_MAX).default(RESEAL_BATCH_MAX),
  after: z.string().min(1).max(64).optional().openapi({ description: "The `next` of the previous call" }),
});

const ResealReportSchema = z
  .object({
    resealed: z.number().int(),
    unreadable: z
      .number()
      .int()
      .openapi({ description: "Secrets no key of the ring opens (left as they are)" }),
    remaining: z.number().int().openapi({ description: "Secrets still sealed with another key" }),
    next: z.string().nullable().openapi({ description: "Pass as `after` to go on; null: the scan is done" }),
    key_id: z.string().openapi({ description: "The id of the current key (the first of ACME_SECRET_KEYS)" }),
  })
  .openapi("AcmeSecretResealReport", {
    example: { resealed: 50, unreadable: 0, remaining: 0, next: null, key_id: "k3f9a1c2" },
  });

/** Admin: bring webhook signing secrets sealed with an older key of ACME_SECRET_KEYS to the current one. */
export const secretAdminRouter = createAcmeRouter().openapi(
  securedRoute({
    method: "post",
    path: "/admin/secrets/reseal",
    tags: ["Admin"],
    summary:
      "Re-seal webhook signing secrets with the current key of ACME_SECRET_KEYS, a bounded batch per call",
    security: ADMIN_TOKEN,
    request: { query: ResealQuerySchema },
    responses: {
      200: {
        description: "This call's work",
        content: { "application/json": { schema: ResealReportSchema } },
      },
      ...errorResponses(...ADMIN_ERROR_STATUSES),
    },
  }),
  async (c) => {
    const { limit, after } = c.req.valid("query");
    const { keyId, ...report } = await resealSubscriptions(c.env.ACME_DB, c.var.config.secretKeys, {
      limit,
      after,
    });
    return c.json({ ...report, key_id: keyId }, 200);
  },
);
