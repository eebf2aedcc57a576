import { z } from "@hono/zod-openapi";
import { and, asc, eq, gt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { ContactSchema } from "../contacts/schemas.ts";
import { createRouter } from "../context.ts";
import { CHANGE_SOURCES, changeEvents } from "../db/schema.ts";
import { problemResponses } from "../problem-responses.ts";
import { API_KEY, securedRoute } from "../secured-route.ts";

const ChangeEventSchema = z
  .object({
    seq: z.number().int(),
    id: z.string().openapi({
      description: "Acme's webhook id, or rec_… / bf_… for changes found by reconciliation / backfill",
    }),
    type: z.enum(["contact.created", "contact.updated", "contact.deleted"]),
    occurredAt: z.string().openapi({ description: "When the change happened at Acme" }),
    recordedAt: z.string().openapi({ description: "When the integration recorded it" }),
    contact: ContactSchema,
    changes: z.record(z.string(), z.object({ from: z.unknown(), to: z.unknown() })),
    source: z.enum(CHANGE_SOURCES),
  })
  .openapi("ChangeEvent");

export const eventsRouter = createRouter().openapi(
  securedRoute({
    method: "get",
    path: "/events",
    tags: ["Events"],
    summary: "The connection's change feed, oldest first",
    description:
      "Poll with `after` set to the last `nextAfter`: sequence numbers grow by one per change, with no " +
      "gaps or repeats. A change Acme sent twice, or that reconciliation also found, appears once.",
    security: API_KEY,
    request: {
      query: z.strictObject({
        // The generator would call a coerced number with a default of 0 nullable; a query value is never null.
        after: z.coerce.number().int().min(0).default(0).openapi({ type: "integer" }),
        limit: z.coerce.number().int().min(1).max(500).default(100),
      }),
    },
    responses: {
      200: {
        description: "Changes after `after`",
        content: {
          "application/json": {
            schema: z
              .object({ data: z.array(ChangeEventSchema), nextAfter: z.number().int() })
              .openapi("ChangeFeed"),
          },
        },
      },
      ...problemResponses(400, 401),
    },
  }),
  async (c) => {
    const { after, limit } = c.req.valid("query");
    const rows = await drizzle(c.env.DB)
      .select()
      .from(changeEvents)
      .where(and(eq(changeEvents.connectionId, c.var.connection.id), gt(changeEvents.seq, after)))
      .orderBy(asc(changeEvents.seq))
      .limit(limit);
    const data = rows.map((row) => ({
      seq: row.seq,
      id: row.eventId,
      type: row.type as z.infer<typeof ChangeEventSchema>["type"],
      occurredAt: row.occurredAt,
      recordedAt: row.recordedAt,
      contact: JSON.parse(row.contact),
      changes: JSON.parse(row.changes),
      source: row.source,
    }));
    return c.json({ data, nextAfter: rows[rows.length - 1]?.seq ?? after }, 200);
  },
);
