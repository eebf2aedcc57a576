import { connectionData } from "../connection-data/stub.ts";
import type { ChangeEvent } from "../feed/change-event.ts";
import { CHANGE_TYPES } from "../feed/change-types.ts";
import { connectionHealth } from "./connection-health.ts";
import { ConnectionTabs } from "./connection-views.tsx";
import { createConsoleRouter } from "./context.ts";
import { ConsoleError } from "./errors.tsx";
import { type FeedFilter, feedFilter } from "./feed-filter.ts";
import { ChoiceField, FilterForm, SearchField } from "./filter-form.tsx";
import { withQuery } from "./filters.ts";
import { Page, Time } from "./layout.tsx";
import { keysetPage } from "./paging.ts";

/** Changes a feed page shows at once, and the most a live update brings in one poll. */
const FEED_PAGE_SIZE = 50;
const FEED_POLL_LIMIT = 100;

/** How often an open feed page asks for new changes. */
const POLL_EVERY = "2s";

function shown(value: unknown): string {
  if (value === null || value === undefined) return "(empty)";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function who(change: ChangeEvent): string {
  const name = [change.contact.firstName, change.contact.lastName].filter(Boolean).join(" ");
  return name || change.contact.email || change.contact.id;
}

/** One change with its diff (field, from, to) in the API's field names. */
export function ChangeItem({ change }: { change: ChangeEvent }) {
  const fields = Object.entries(change.changes);
  return (
    <li class="change" data-seq={String(change.seq)} data-contact-id={change.contact.id}>
      <p class="change-head">
        <strong>{change.type}</strong> {who(change)}{" "}
        <span class="muted">
          #{change.seq} · v{change.contact.version ?? "?"} · via {change.source} ·{" "}
          <Time iso={change.occurredAt} />
        </span>
      </p>
      {fields.length === 0 ? (
        <p class="muted">No field changed.</p>
      ) : (
        <table class="diff">
          <caption class="visually-hidden">{`Fields changed in change ${change.seq}`}</caption>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">From</th>
              <th scope="col">To</th>
            </tr>
          </thead>
          <tbody>
            {fields.map(([field, diff]) => (
              <tr>
                <th scope="row">{field}</th>
                <td>
                  <del>{shown(diff.from)}</del>
                </td>
                <td>
                  <ins>{shown(diff.to)}</ins>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </li>
  );
}

/**
 * The element that polls for changes after `after` (those `filter` keeps); each answer replaces it
 * with the next cursor.
 */
function FeedPoller(props: { connectionId: string; after: number; filter: FeedFilter }) {
  return (
    <div
      id="feed-poller"
      hx-get={withQuery(`/console/connections/${props.connectionId}/feed/updates`, {
        ...props.filter,
        after: props.after,
      })}
      hx-trigger={`every ${POLL_EVERY}`}
      hx-swap="outerHTML"
      data-after={String(props.after)}
    >
      <p class="muted">Live: new changes appear at the top as they are recorded.</p>
    </div>
  );
}

function cursor(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ConsoleError(400, "The feed position must be a whole number.");
  return n;
}

/** The change feed of a connection, live (htmx polling) with each change's diff. */
export const feedRouter = createConsoleRouter()
  .get("/:id/feed", async (c) => {
    const found = await connectionHealth(c.env, c.req.param("id"));
    if (!found) throw new ConsoleError(404, "There is no such connection.");
    const before = cursor(c.req.query("before"));
    const filter = feedFilter({ contact: c.req.query("contact"), type: c.req.query("type") });
    const filtered = filter.contact !== undefined || filter.type !== undefined;
    const rows = await connectionData(c.env, found.row.id).changesBefore(before, FEED_PAGE_SIZE + 1, filter);
    const { data, next: nextBefore } = keysetPage(rows, FEED_PAGE_SIZE, (change) => change.seq);
    const newest = data[0]?.seq ?? 0;
    const feedPath = `/console/connections/${found.row.id}/feed`;
    return c.html(
      <Page title={`${found.row.name}: change feed`} operator={c.var.operator} path="/console/connections">
        <ConnectionTabs id={found.row.id} current="feed" />
        <FilterForm action={feedPath} label="Filter changes" active={filtered}>
          <SearchField name="contact" label="Contact id or email contains" value={filter.contact} />
          <ChoiceField name="type" label="Change type" value={filter.type} options={CHANGE_TYPES} />
        </FilterForm>
        {before === undefined ? (
          <FeedPoller connectionId={found.row.id} after={newest} filter={filter} />
        ) : null}
        <p id="feed-empty" hidden={data.length > 0}>
          {filtered ? "No change matches the filter." : "No changes yet."}
        </p>
        <ol id="feed-list" class="feed" aria-live="polite" aria-relevant="additions" reversed>
          {data.map((change) => (
            <ChangeItem change={change} />
          ))}
        </ol>
        {nextBefore !== null ? (
          <p>
            <a href={withQuery(feedPath, { ...filter, before: nextBefore })}>Older changes</a>
          </p>
        ) : null}
      </Page>,
    );
  })
  .get("/:id/feed/updates", async (c) => {
    const id = c.req.param("id");
    const after = cursor(c.req.query("after")) ?? 0;
    const filter = feedFilter({ contact: c.req.query("contact"), type: c.req.query("type") });
    const data = connectionData(c.env, id);
    let page = await data.changesAfter(after, FEED_POLL_LIMIT, filter);
    // The page stayed open past the feed's retention: go on from the oldest entry still kept.
    if (page.expired) page = await data.changesAfter(page.oldestAfter, FEED_POLL_LIMIT, filter);
    const fresh = page.expired ? [] : page.events;
    if (fresh.length === 0) return c.body(null, 204);
    const last = fresh[fresh.length - 1]?.seq ?? after;
    return c.html(
      <>
        <ol hx-swap-oob="afterbegin:#feed-list">
          {fresh.toReversed().map((change) => (
            <ChangeItem change={change} />
          ))}
        </ol>
        {/* "No changes yet." goes: it is replaced by an empty, hidden line. */}
        <p id="feed-empty" hx-swap-oob="true" hidden></p>
        <FeedPoller connectionId={id} after={last} filter={filter} />
      </>,
    );
  });
