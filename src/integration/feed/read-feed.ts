import { and, asc, desc, eq, gt, lt, or, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { containsText } from "../db/contains-text.ts";
import { changeEvents } from "../db/schema.ts";
import { type ChangeEvent, toChangeEvent } from "./change-event.ts";
import type { ChangeType } from "./change-types.ts";

/** Which of a connection's changes to read: `contact` is a contact's id or part of its email. */
export interface FeedSelection {
  contact?: string | undefined;
  type?: ChangeType | undefined;
}

function selected(connectionId: string, selection: FeedSelection) {
  return and(
    eq(changeEvents.connectionId, connectionId),
    selection.contact
      ? or(
          eq(changeEvents.contactId, selection.contact),
          containsText(sql`json_extract(${changeEvents.contact}, '$.email')`, selection.contact),
        )
      : undefined,
    selection.type ? eq(changeEvents.type, selection.type) : undefined,
  );
}

/**
 * A connection's changes after sequence number `after`, oldest first, at most `limit`; only those
 * `selection` keeps (all by default).
 */
export async function changesAfter(
  db: D1Database,
  connectionId: string,
  after: number,
  limit: number,
  selection: FeedSelection = {},
): Promise<ChangeEvent[]> {
  const rows = await drizzle(db)
    .select()
    .from(changeEvents)
    .where(and(selected(connectionId, selection), gt(changeEvents.seq, after)))
    .orderBy(asc(changeEvents.seq))
    .limit(limit);
  return rows.map(toChangeEvent);
}

/**
 * A connection's newest changes (those before sequence number `before`, when given), newest
 * first, at most `limit`; only those `selection` keeps (all by default).
 */
export async function changesBefore(
  db: D1Database,
  connectionId: string,
  before: number | undefined,
  limit: number,
  selection: FeedSelection = {},
): Promise<ChangeEvent[]> {
  const rows = await drizzle(db)
    .select()
    .from(changeEvents)
    .where(
      and(selected(connectionId, selection), before !== undefined ? lt(changeEvents.seq, before) : undefined),
    )
    .orderBy(desc(changeEvents.seq))
    .limit(limit);
  return rows.map(toChangeEvent);
}
