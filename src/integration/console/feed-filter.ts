import { and, asc, desc, eq, gt, lt, or, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { changeEvents } from "../db/schema.ts";
import { type ChangeEvent, toChangeEvent } from "../feed/change-event.ts";
import { CHANGE_TYPES, type ChangeType } from "../feed/change-types.ts";
import { choice, containsText, searchText } from "./filters.ts";

/** Which changes a feed page shows: `contact` is a contact's id or part of its email; `type` a change type. */
export interface FeedFilter {
  contact?: string | undefined;
  type?: ChangeType | undefined;
}

/** The feed filter of a request's `contact` and `type` queries. Throws ConsoleError 400 for a bad one. */
export function feedFilter(query: { contact?: string | undefined; type?: string | undefined }): FeedFilter {
  return {
    contact: searchText(query.contact),
    type: choice(query.type, CHANGE_TYPES, "change type"),
  };
}

function matching(connectionId: string, filter: FeedFilter) {
  return and(
    eq(changeEvents.connectionId, connectionId),
    filter.contact
      ? or(
          eq(changeEvents.contactId, filter.contact),
          containsText(sql`json_extract(${changeEvents.contact}, '$.email')`, filter.contact),
        )
      : undefined,
    filter.type ? eq(changeEvents.type, filter.type) : undefined,
  );
}

/** The connection's changes that `filter` keeps after sequence number `after`, oldest first, at most `limit`. */
export async function filteredChangesAfter(
  db: D1Database,
  connectionId: string,
  filter: FeedFilter,
  after: number,
  limit: number,
): Promise<ChangeEvent[]> {
  const rows = await drizzle(db)
    .select()
    .from(changeEvents)
    .where(and(matching(connectionId, filter), gt(changeEvents.seq, after)))
    .orderBy(asc(changeEvents.seq))
    .limit(limit);
  return rows.map(toChangeEvent);
}

/**
 * The connection's newest changes that `filter` keeps (before sequence number `before`, when
 * given), newest first, at most `limit`.
 */
export async function filteredChangesBefore(
  db: D1Database,
  connectionId: string,
  filter: FeedFilter,
  before: number | undefined,
  limit: number,
): Promise<ChangeEvent[]> {
  const rows = await drizzle(db)
    .select()
    .from(changeEvents)
    .where(
      and(matching(connectionId, filter), before !== undefined ? lt(changeEvents.seq, before) : undefined),
    )
    .orderBy(desc(changeEvents.seq))
    .limit(limit);
  return rows.map(toChangeEvent);
}
