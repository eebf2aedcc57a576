import { and, asc, desc, eq, gt, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { changeEvents } from "../db/schema.ts";
import { type ChangeEvent, toChangeEvent } from "./change-event.ts";

/** A connection's changes after sequence number `after`, oldest first, at most `limit`. */
export async function changesAfter(
  db: D1Database,
  connectionId: string,
  after: number,
  limit: number,
): Promise<ChangeEvent[]> {
  const rows = await drizzle(db)
    .select()
    .from(changeEvents)
    .where(and(eq(changeEvents.connectionId, connectionId), gt(changeEvents.seq, after)))
    .orderBy(asc(changeEvents.seq))
    .limit(limit);
  return rows.map(toChangeEvent);
}

/**
 * A connection's newest changes (those before sequence number `before`, when given), newest
 * first, at most `limit`.
 */
export async function changesBefore(
  db: D1Database,
  connectionId: string,
  before: number | undefined,
  limit: number,
): Promise<ChangeEvent[]> {
  const rows = await drizzle(db)
    .select()
    .from(changeEvents)
    .where(
      and(
        eq(changeEvents.connectionId, connectionId),
        before !== undefined ? lt(changeEvents.seq, before) : undefined,
      ),
    )
    .orderBy(desc(changeEvents.seq))
    .limit(limit);
  return rows.map(toChangeEvent);
}
