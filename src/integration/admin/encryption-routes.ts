import { z } from "@hono/zod-openapi";
import { RESEAL_BATCH_MAX } from "../../lib/reseal-batch.ts";
import { resealRefreshToken } from "../connections/oauth-grant.ts";
import { resealConnections } from "../connections/reseal-connections.ts";
import { createRouter } from "../context.ts";
import { problemResponses } from "../problem-responses.ts";
import { ADMIN_TOKEN, securedRoute } from "../secured-route.ts";

const ResealQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(RESEAL_BATCH_MAX)
    .default(RESEAL_BATCH_MAX)
    .openapi({ description: `Connections to examine in this call (at most ${RESEAL_BATCH_MAX})` }),
  after: z
    .string()
    .min(1)
    .max(64)
    .optional()
    .openapi({ description: "Go on after this connection id: the `next` of the previous call" }),
});

const ResealReportSchema = z
  .object({
    resealed: z.number().int().openapi({ description: "Connections whose secrets now use the current key" }),
    unreadable: z.number().int().openapi({
      description: "Connections examined whose secrets no key of ENCRYPTION_KEYS opens (left as they are)",
    }),
    remaining: z.number().int().openapi({
      description: "Connections still holding a secret sealed with another key, unreadable ones included",
    }),
    next: z.string().nullable().openapi({ description: "Pass as `after` to go on; null: the scan is done" }),
    keyId: z.string().openapi({ description: "The id of the current key (the first of ENCRYPTION_KEYS)" }),
  })
  .openapi("EncryptionResealReport", {
    example: {
      resealed: 50,
      unreadable: 0,
      remaining: 120,
      next: "conn_01jd5x8m3q0000000000000000",
      keyId: "k3f9a1c2",
    },
  });

/** Admin: bring connection secrets sealed with an older key of ENCRYPTION_KEYS to the current one. */
export const encryptionAdminRouter = createRouter().openapi(
  securedRoute({
    method: "post",
    path: "/v1/admin/encryption/reseal",
    tags: ["Admin"],
    summary: "Re-seal connection secrets with the current encryption key, a bounded batch per call",
    description:
      "After a new key is put first in ENCRYPTION_KEYS, call until `next` is null (passing each `next` " +
      "as `after`); then `remaining` counts what no key opens, and at 0 the old keys can be dropped. " +
      "OAuth connections' refresh tokens (kept in each connection's session, not counted in `remaining`) " +
      "are re-sealed as the scan passes them, and anyway at each refresh.",
    security: ADMIN_TOKEN,
    request: { query: ResealQuerySchema },
    responses: {
      200: {
        description: "This call's work",
        content: { "application/json": { schema: ResealReportSchema } },
      },
      ...problemResponses(400, 401),
    },
  }),
  async (c) => {
    const { limit, after } = c.req.valid("query");
    const keys = c.var.config.secretKeys;
    const report = await resealConnections(c.env.DB, keys, {
      limit,
      after,
      refreshTokens: (connectionId) => resealRefreshToken(c.env, keys, connectionId),
    });
    return c.json(report, 200);
  },
);
