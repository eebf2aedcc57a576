import { and, asc, desc, eq, gt, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { changeEvents } from "../db/schema.ts";
import { keysetPage } from "./paging.ts";

/** One change of the feed as the console shows it (the API's field names, as in GET /api/v1/events). */
export interface FeedChange {
  seq: number;
  id: string;
  type: string;
  occurredAt: string;
  recordedAt: string;
  source: string;
  contact: {
    id: string;
    email?: string | null;
    firstName?: string | null;
    lastName?: string | null;
    version?: number;
  };
  changes: Record<string, { from: unknown; to: unknown }>;
}

/** Changes a feed page shows at once, and the most a live update brings in one poll. */
export const FEED_PAGE_SIZE = 50;
export const FEED_POLL_LIMIT = 100;

function toChange(row: typeof changeEvents.$inferSelect): FeedChange {
  return {
    seq: row.seq,
    id: row.eventId,
    type: row.type,
    occurredAt: row.occurredAt,
    recordedAt: row.recordedAt,
    source: row.source,
    contact: JSON.parse(row.contact),
    changes: JSON.parse(row.changes),
  };
}

/** The newest changes of a connection (before `before`, when paging back), newest first. */
export async function latestChanges(
  env: Env,
  connectionId: string,
  before: number | undefined,
): Promise<{ data: FeedChange[]; nextBefore: number | null }> {
  const rows = await drizzle(env.DB)
    .select()
    .from(changeEvents)
    .where(
      and(
        eq(changeEvents.connectionId, connectionId),
        before !== undefined ? lt(changeEvents.seq, before) : undefined,
      ),
    )
    .orderBy(desc(changeEvents.seq))
    .limit(FEED_PAGE_SIZE + 1);
  const page = keysetPage(rows, FEED_PAGE_SIZE, (row) => row.seq);
  return { data: page.data.map(toChange), nextBefore: page.next };
}

/** Changes after `after`, oldest first, at most FEED_POLL_LIMIT (the live update's next step). */
export async function changesAfter(env: Env, connectionId: string, after: number): Promise<FeedChange[]> {
  const rows = await drizzle(env.DB)
    .select()
    .from(changeEvents)
    .where(and(eq(changeEvents.connectionId, connectionId), gt(changeEvents.seq, after)))
    .orderBy(asc(changeEvents.seq))
    .limit(FEED_POLL_LIMIT);
  return rows.map(toChange);
}
