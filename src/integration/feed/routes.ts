import { z } from "@hono/zod-openapi";
import { queryInteger } from "../../lib/query-integer.ts";
import { connectionData } from "../connection-data/stub.ts";
import { createRouter } from "../context.ts";
import { ApiError } from "../errors.ts";
import { problemResponses } from "../problem-responses.ts";
import { API_KEY, securedRoute } from "../secured-route.ts";
import { CHANGE_EVENT_EXAMPLE, ChangeEventSchema } from "./change-event.ts";

/** GET /events: the connection's change feed, read after a cursor. */
export const eventsRouter = createRouter().openapi(
  securedRoute({
    method: "get",
    path: "/events",
    tags: ["Events"],
    summary: "The connection's change feed, oldest first",
    description:
      "Poll with `after` set to the last `nextAfter`: sequence numbers grow by one per change, with no " +
      "gaps or repeats. A change Acme sent twice, or that reconciliation also found, appears once. " +
      "Entries are kept for FEED_RETENTION_SECONDS (30 days by default); a cursor whose next entry " +
      "was pruned gets 410 `feed_cursor_expired` with `oldestAfter`: re-read the contacts list, then " +
      "poll on from `oldestAfter`.",
    security: API_KEY,
    request: {
      query: z.strictObject({
        after: queryInteger({ min: 0, fallback: 0 }).openapi({
          description: "The last sequence number seen (`nextAfter`); 0 or absent: from the start",
        }),
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
              .openapi("ChangeFeed", { example: { data: [CHANGE_EVENT_EXAMPLE], nextAfter: 42 } }),
          },
        },
      },
      ...problemResponses(400, 401, 410),
    },
  }),
  async (c) => {
    const { after, limit } = c.req.valid("query");
    const page = await connectionData(c.env, c.var.connection.id).changesAfter(after, limit);
    if (page.expired) {
      throw new ApiError(
        "feed_cursor_expired",
        `The change feed's entries after ${after} were pruned (kept for FEED_RETENTION_SECONDS); re-read the contacts list and continue from oldestAfter ${page.oldestAfter}.`,
        { oldestAfter: page.oldestAfter },
      );
    }
    const data = page.events;
    return c.json({ data, nextAfter: data[data.length - 1]?.seq ?? after }, 200);
  },
);
