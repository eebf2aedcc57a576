import { z } from "@hono/zod-openapi";
import { and, desc, eq, isNull, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { createRouter } from "../context.ts";
import { deadLetters } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { problemResponses } from "../problem-responses.ts";
import { ADMIN_TOKEN, securedRoute } from "../secured-route.ts";
import { InboxMessageSchema } from "./acme-event.ts";

const DeadLetterSchema = z
  .object({
    id: z.string(),
    connectionId: z.string().nullable(),
    webhookId: z.string().nullable(),
    reason: z.string(),
    body: z.string(),
    receivedAt: z.string(),
    replayedAt: z.string().nullable(),
  })
  .openapi("DeadLetter", {
    example: {
      id: "dl_01jd5x8m3q0000000000000000",
      connectionId: "conn_01jd5x8m3q0000000000000000",
      webhookId: "msg_2mKq9x7vTb0000000000000000",
      reason: "the connection no longer exists",
      body: '{"type":"contact.updated","data":{"id":"ct_01jd5x8m3q0000000000000000"}}',
      receivedAt: "2026-02-01T16:05:12.480Z",
      replayedAt: null,
    },
  });

export const deadLetterRouter = createRouter();

deadLetterRouter
  .openapi(
    securedRoute({
      method: "get",
      path: "/v1/admin/dead-letters",
      tags: ["Admin"],
      summary: "Inbox messages that could not be applied, newest first",
      security: ADMIN_TOKEN,
      request: {
        query: z.strictObject({
          limit: z.coerce.number().int().min(1).max(100).default(50),
          before: z.string().max(64).optional(),
          pending: z
            .enum(["true", "false"])
            .optional()
            .openapi({ description: "Only those not replayed yet" }),
        }),
      },
      responses: {
        200: {
          description: "Dead letters",
          content: {
            "application/json": {
              schema: z.object({ data: z.array(DeadLetterSchema), nextBefore: z.string().nullable() }),
            },
          },
        },
        ...problemResponses(400, 401),
      },
    }),
    async (c) => {
      const { limit, before, pending } = c.req.valid("query");
      const rows = await drizzle(c.env.DB)
        .select()
        .from(deadLetters)
        .where(
          and(
            before ? lt(deadLetters.id, before) : undefined,
            pending === "true" ? isNull(deadLetters.replayedAt) : undefined,
          ),
        )
        .orderBy(desc(deadLetters.id))
        .limit(limit + 1);
      const page = rows.slice(0, limit);
      return c.json(
        { data: page, nextBefore: rows.length > limit ? (page[page.length - 1]?.id ?? null) : null },
        200,
      );
    },
  )
  .openapi(
    securedRoute({
      method: "post",
      path: "/v1/admin/dead-letters/{id}/replay",
      tags: ["Admin"],
      summary: "Put a dead letter back on the inbox queue (after fixing what made it fail)",
      security: ADMIN_TOKEN,
      request: { params: z.object({ id: z.string().min(1).max(64) }) },
      responses: {
        202: { description: "Queued again", content: { "application/json": { schema: DeadLetterSchema } } },
        ...problemResponses(400, 401, 404, 409),
      },
    }),
    async (c) => {
      const db = drizzle(c.env.DB);
      const row = await db
        .select()
        .from(deadLetters)
        .where(eq(deadLetters.id, c.req.valid("param").id))
        .get();
      if (!row) throw new ApiError("not_found", "No such dead letter.");
      let envelope: ReturnType<typeof InboxMessageSchema.safeParse>;
      try {
        envelope = InboxMessageSchema.safeParse(JSON.parse(row.body));
      } catch {
        envelope = InboxMessageSchema.safeParse(null);
      }
      if (!envelope.success)
        throw new ApiError("conflict", "This dead letter is not an inbox message and cannot be replayed.");
      await c.env.INBOX_QUEUE.send(envelope.data);
      const updated = await db
        .update(deadLetters)
        .set({ replayedAt: new Date().toISOString() })
        .where(eq(deadLetters.id, row.id))
        .returning()
        .get();
      return c.json(updated ?? row, 202);
    },
  );
