import type { Child } from "hono/jsx";
import { DELIVERY_STATUSES, type DeliveryStatus } from "../connection-data/schema.ts";
import {
  ALL_CONTACT_CHANGES,
  DESTINATION_DESCRIPTION_MAX_LENGTH,
  DESTINATION_URL_MAX_LENGTH,
  type EventFilter,
} from "../destinations/destination-rules.ts";
import type { DeliveryState } from "../destinations/destination-store.ts";
import type { PublicAttempt, PublicDestination } from "../destinations/public-destination.ts";
import { CHANGE_TYPES } from "../feed/change-types.ts";
import { ChoiceField, FilterForm } from "./filter-form.tsx";
import { withQuery } from "./filters.ts";
import { ActionButton, CsrfField, NextPageLink, ScrollTable, Time } from "./layout.tsx";
import type { OperatorSignIn } from "./operator-cookie.ts";

/** How often an open delivery log asks for its attempts again. */
const LOG_POLL_EVERY = "3s";

/** What the add-a-destination form holds, written back when it is refused. */
export interface DestinationFormValues {
  url: string;
  events: EventFilter[];
  description: string;
}

export const EMPTY_DESTINATION_FORM: DestinationFormValues = {
  url: "",
  events: [ALL_CONTACT_CHANGES],
  description: "",
};

/** A form's problems by field name (`url`, `events`, `description`, `since`). */
export type FieldErrors = Partial<Record<string, string>>;

export function destinationPath(connectionId: string, destinationId?: string): string {
  const list = `/console/connections/${connectionId}/destinations`;
  return destinationId ? `${list}/${destinationId}` : list;
}

function isAll(events: readonly string[]): boolean {
  return CHANGE_TYPES.every((t) => events.includes(t));
}

/** The change types a destination takes, in words. */
export function EventsTaken({ events }: { events: readonly string[] }) {
  if (isAll(events)) {
    return (
      <span>
        all contact changes <span class="muted">({ALL_CONTACT_CHANGES})</span>
      </span>
    );
  }
  return <span>{events.join(", ")}</span>;
}

/** The destination's status as a badge, and why the integration disabled it when it did. */
export function DestinationStatus({ destination }: { destination: PublicDestination }) {
  const enabled = destination.status === "enabled";
  return (
    <span>
      <span
        class={`badge ${enabled ? "healthy" : destination.disabledReason ? "failing" : "unknown"}`}
        data-destination-status={destination.status}
      >
        {destination.status}
      </span>
      {destination.disabledReason ? <p class="muted reason">{destination.disabledReason}</p> : null}
    </span>
  );
}

/** A field of a form: label, optional hint, the input, and its problem when it was refused. */
function Field(props: {
  name: string;
  label: string;
  hint?: string;
  error?: string | undefined;
  children: Child;
}) {
  return (
    <div class="field">
      <label for={props.name}>{props.label}</label>
      {props.hint ? (
        <p class="hint" id={`${props.name}-hint`}>
          {props.hint}
        </p>
      ) : null}
      {props.children}
      {props.error ? (
        <p class="error" id={`${props.name}-error`}>
          {props.error}
        </p>
      ) : null}
    </div>
  );
}

/** The ids an input's aria-describedby names: its hint and its problem, when shown. */
function describedBy(name: string, hint: boolean, errors: FieldErrors): string | undefined {
  return (
    [hint ? `${name}-hint` : "", errors[name] ? `${name}-error` : ""].filter(Boolean).join(" ") || undefined
  );
}

/** The add-a-destination form; what was typed comes back with each problem beside its field. */
export function AddDestinationForm(props: {
  connectionId: string;
  operator: OperatorSignIn;
  form: DestinationFormValues;
  errors: FieldErrors;
  allowLoopback: boolean;
}) {
  const { form, errors } = props;
  const urlHint =
    "Where the connection's changes are POSTed as Standard Webhooks: https, on a public host" +
    (props.allowLoopback
      ? " (this deployment also takes http://127.0.0.1 and other loopback addresses)."
      : ".");
  return (
    <form method="post" action={destinationPath(props.connectionId)} class="card" id="add-destination">
      <h2>Add a destination</h2>
      <CsrfField operator={props.operator} />
      <Field name="url" label="URL" hint={urlHint} error={errors.url}>
        <input
          id="url"
          name="url"
          type="url"
          required
          maxlength={DESTINATION_URL_MAX_LENGTH}
          placeholder="https://app.example.com/hooks/acme-bridge"
          value={form.url}
          aria-invalid={errors.url ? "true" : undefined}
          aria-describedby={describedBy("url", true, errors)}
        />
      </Field>
      <fieldset
        class="field events"
        aria-invalid={errors.events ? "true" : undefined}
        aria-describedby={errors.events ? "events-error" : undefined}
      >
        <legend>Changes to send</legend>
        <div class="checkbox">
          <input
            id="events-all"
            name="events"
            type="checkbox"
            value={ALL_CONTACT_CHANGES}
            checked={form.events.includes(ALL_CONTACT_CHANGES)}
          />
          <label for="events-all">All contact changes ({ALL_CONTACT_CHANGES})</label>
        </div>
        {CHANGE_TYPES.map((type) => (
          <div class="checkbox">
            <input
              id={`events-${type}`}
              name="events"
              type="checkbox"
              value={type}
              checked={form.events.includes(type)}
            />
            <label for={`events-${type}`}>{type}</label>
          </div>
        ))}
        {errors.events ? (
          <p class="error" id="events-error">
            {errors.events}
          </p>
        ) : null}
      </fieldset>
      <Field name="description" label="Description (optional)" error={errors.description}>
        <input
          id="description"
          name="description"
          maxlength={DESTINATION_DESCRIPTION_MAX_LENGTH}
          value={form.description}
          aria-invalid={errors.description ? "true" : undefined}
          aria-describedby={describedBy("description", false, errors)}
        />
      </Field>
      <button type="submit">Add destination</button>
    </form>
  );
}

/** The connection's destinations, oldest first, each a link to its page. */
export function DestinationsTable(props: { connectionId: string; destinations: PublicDestination[] }) {
  if (props.destinations.length === 0) {
    return <p>No destinations yet: the connection's changes are pushed nowhere. Add one below.</p>;
  }
  return (
    <ScrollTable label="Destinations">
      <thead>
        <tr>
          <th scope="col">URL</th>
          <th scope="col">Changes sent</th>
          <th scope="col">Status</th>
          <th scope="col">Description</th>
          <th scope="col">Created</th>
        </tr>
      </thead>
      <tbody>
        {props.destinations.map((d) => (
          <tr data-destination-id={d.id}>
            <th scope="row">
              <a href={destinationPath(props.connectionId, d.id)}>
                <code>{d.url}</code>
              </a>
              <br />
              <code class="muted">{d.id}</code>
            </th>
            <td>
              <EventsTaken events={d.events} />
            </td>
            <td>
              <DestinationStatus destination={d} />
            </td>
            <td>{d.description ?? <span class="muted">none</span>}</td>
            <td>
              <Time iso={d.createdAt} />
            </td>
          </tr>
        ))}
      </tbody>
    </ScrollTable>
  );
}

/** A signing secret shown the one time it exists in the clear. */
export function SecretShownOnce(props: { heading: string; secret: string; children: Child }) {
  return (
    <section class="card issued" aria-labelledby="secret-heading">
      <h2 id="secret-heading">{props.heading}</h2>
      <p>Copy it now: it is shown this once and cannot be read again, here or through the API.</p>
      {props.children}
      <p>
        <output id="destination-secret" class="secret">
          {props.secret}
        </output>
      </p>
    </section>
  );
}

const STATUS_BADGE: Record<DeliveryStatus, string> = {
  succeeded: "healthy",
  pending: "degraded",
  failed: "failing",
};

function DeliveryBadge({ status }: { status: DeliveryStatus }) {
  return <span class={`badge ${STATUS_BADGE[status]}`}>{status}</span>;
}

/** What the receiver answered to one attempt: its status, the error, the start of its body. */
function Answer({ attempt }: { attempt: PublicAttempt }) {
  return (
    <span>
      {attempt.responseStatus ?? <span class="muted">no answer</span>}
      {attempt.error ? <span class="muted"> {attempt.error}</span> : null}
      {attempt.responseExcerpt ? (
        <details>
          <summary>Body (first 1 KB)</summary>
          <pre>{attempt.responseExcerpt}</pre>
        </details>
      ) : null}
    </span>
  );
}

/** Where the delivery stands now, with Retry unless it is pending already. */
function DeliveryNow(props: {
  operator: OperatorSignIn;
  base: string;
  deliveryId: string;
  state: DeliveryState | undefined;
}) {
  if (!props.state) return <span class="muted">no longer kept</span>;
  return (
    <span>
      <DeliveryBadge status={props.state.status} />
      {props.state.nextAttemptAt !== null ? (
        <>
          {" "}
          next <Time iso={new Date(props.state.nextAttemptAt).toISOString()} />
        </>
      ) : null}
      {props.state.status === "pending" ? null : (
        <>
          <br />
          <ActionButton
            operator={props.operator}
            action={`${props.base}/deliveries/${props.deliveryId}/retry`}
            label="Retry"
            name={`Retry delivery ${props.deliveryId}`}
            variant="secondary"
          />
        </>
      )}
    </span>
  );
}

/** A page of the delivery log and where each delivery on it stands now. */
export interface DeliveryLogPage {
  attempts: PublicAttempt[];
  states: Map<string, DeliveryState>;
  next: string | null;
}

/**
 * The destination's delivery log: attempts newest first, refreshed every few seconds (htmx) with
 * its filter and page kept. Each delivery's state now and its Retry are on its newest attempt of
 * the page.
 */
export function DeliveryLog(props: {
  operator: OperatorSignIn;
  connectionId: string;
  destinationId: string;
  status: DeliveryStatus | undefined;
  before: string | undefined;
  log: DeliveryLogPage;
}) {
  const base = destinationPath(props.connectionId, props.destinationId);
  const seen = new Set<string>();
  return (
    <div
      id="delivery-log"
      hx-get={withQuery(`${base}/log`, { status: props.status, before: props.before })}
      hx-trigger={`every ${LOG_POLL_EVERY}`}
      hx-swap="outerHTML"
    >
      {props.log.attempts.length === 0 ? (
        <p>{props.status ? "No attempt matches the filter." : "No delivery has been attempted yet."}</p>
      ) : (
        <ScrollTable label="Delivery attempts, newest first">
          <thead>
            <tr>
              <th scope="col">Attempted</th>
              <th scope="col">Change</th>
              <th scope="col">Attempt</th>
              <th scope="col">Result</th>
              <th scope="col">Answer</th>
              <th scope="col">Duration</th>
              <th scope="col">Next attempt</th>
              <th scope="col">Delivery now</th>
            </tr>
          </thead>
          <tbody>
            {props.log.attempts.map((a) => {
              const newest = !seen.has(a.deliveryId);
              seen.add(a.deliveryId);
              return (
                <tr data-attempt-id={a.id} data-delivery-id={a.deliveryId} data-status={a.status}>
                  <th scope="row">
                    <Time iso={a.attemptedAt} />
                  </th>
                  <td>
                    #{a.seq} <code class="muted">{a.eventId}</code>
                  </td>
                  <td>{a.attempt}</td>
                  <td>
                    <DeliveryBadge status={a.status} />
                  </td>
                  <td>
                    <Answer attempt={a} />
                  </td>
                  <td>{a.durationMs} ms</td>
                  <td>
                    {a.nextAttemptAt ? <Time iso={a.nextAttemptAt} /> : <span class="muted">none</span>}
                  </td>
                  <td>
                    {newest ? (
                      <DeliveryNow
                        operator={props.operator}
                        base={base}
                        deliveryId={a.deliveryId}
                        state={props.log.states.get(a.deliveryId)}
                      />
                    ) : (
                      <span class="muted">see its newer attempt</span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </ScrollTable>
      )}
      <NextPageLink
        href={props.log.next ? withQuery(base, { status: props.status, before: props.log.next }) : null}
        label="Older attempts"
      />
    </div>
  );
}

/** The delivery log's status filter (a GET form, no script needed). */
export function DeliveryLogFilter(props: { action: string; status: DeliveryStatus | undefined }) {
  return (
    <FilterForm action={props.action} label="Filter delivery attempts" active={props.status !== undefined}>
      <ChoiceField name="status" label="Result" value={props.status} options={DELIVERY_STATUSES} />
    </FilterForm>
  );
}

/** "Send again since": every change since then that was not delivered goes out again. */
export function RecoverForm(props: {
  operator: OperatorSignIn;
  action: string;
  since: string;
  error: string | undefined;
}) {
  const errors: FieldErrors = { since: props.error };
  return (
    <form method="post" action={props.action} class="card" id="recover">
      <h2>Send again since a time</h2>
      <CsrfField operator={props.operator} />
      <Field
        name="since"
        label="Send again everything not delivered since (UTC)"
        hint="A date and time in UTC, not your local time. Every change recorded since then that this destination takes and that did not succeed (failed, or never sent while it was disabled) is sent again now; what succeeded is not sent twice."
        error={props.error}
      >
        <input
          id="since"
          name="since"
          type="datetime-local"
          step={1}
          required
          value={props.since}
          aria-invalid={props.error ? "true" : undefined}
          aria-describedby={describedBy("since", true, errors)}
        />
      </Field>
      <button type="submit">Send again since then</button>
    </form>
  );
}
