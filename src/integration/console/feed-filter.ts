import { CHANGE_TYPES } from "../feed/change-types.ts";
import type { FeedSelection } from "../feed/feed-store.ts";
import { choice, searchText } from "./filters.ts";

/** Which changes a feed page shows (the feed's own selection: a contact's id or part of its email, a type). */
export type FeedFilter = FeedSelection;

/** The feed filter of a request's `contact` and `type` queries. Throws ConsoleError 400 for a bad one. */
export function feedFilter(query: { contact?: string | undefined; type?: string | undefined }): FeedFilter {
  return {
    contact: searchText(query.contact),
    type: choice(query.type, CHANGE_TYPES, "change type"),
  };
}
