import type { Context } from "hono";
import { DELIVERY_STATUSES, type DeliveryStatus } from "../connection-data/schema.ts";
import { connectionData } from "../connection-data/stub.ts";
import { findConnection } from "../connections/connection-store.ts";
import type { ConnectionRow } from "../db/schema.ts";
import { loadDestinationConfig } from "../destinations/config.ts";
import {
  DESTINATION_DESCRIPTION_MAX_LENGTH,
  DESTINATION_URL_MAX_LENGTH,
  destinationUrlRefusal,
  EVENT_FILTERS,
  type EventFilter,
  expandEvents,
} from "../destinations/destination-rules.ts";
import { PREVIOUS_SECRET_MS } from "../destinations/destination-store.ts";
import { type PublicDestination, toAttempt, toDestination } from "../destinations/public-destination.ts";
import { ConnectionTabs } from "./connection-views.tsx";
import { type ConsoleEnv, createConsoleRouter } from "./context.ts";
import {
  AddDestinationForm,
  DeliveryLog,
  DeliveryLogFilter,
  type DeliveryLogPage,
  type DestinationFormValues,
  DestinationStatus,
  DestinationsTable,
  destinationPath,
  EMPTY_DESTINATION_FORM,
  EventsTaken,
  type FieldErrors,
  RecoverForm,
  SecretShownOnce,
} from "./destination-views.tsx";
import { ConsoleError } from "./errors.tsx";
import { choice, withQuery } from "./filters.ts";
import { ActionButton, CsrfField, type Notice, Page, Time } from "./layout.tsx";
import { keysetPage } from "./paging.ts";
import { parseUtcDateTime, utcDateTimeValue } from "./utc-datetime.ts";

/** Delivery attempts shown to a page, newest first. */
export const DELIVERY_LOG_PAGE_SIZE = 25;

/** How far back "Send again since" starts when the page opens, ms. */
const DEFAULT_RECOVER_SPAN_MS = 3_600_000;

const ATTEMPT_CURSOR = /^att_[a-z0-9]{1,60}$/;

async function connectionOr404(c: Context<ConsoleEnv>): Promise<ConnectionRow> {
  // An id that names no connection gets no object made for it.
  const connection = await findConnection(c.env.DB, c.req.param("id") ?? "");
  if (!connection) throw new ConsoleError(404, "There is no such connection.");
  return connection;
}

async function destinationOr404(
  c: Context<ConsoleEnv>,
): Promise<{ connection: ConnectionRow; destination: PublicDestination; previousUntil: number | null }> {
  const connection = await connectionOr404(c);
  const row = await connectionData(c.env, connection.id).getDestination(c.req.param("destinationId") ?? "");
  if (!row) throw new ConsoleError(404, "There is no such destination.");
  return { connection, destination: toDestination(row), previousUntil: row.previousUntil };
}

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}

/**
 * The add-a-destination form read and checked as the API checks its body: the same limits, event
 * filters and URL policy (shared from destinations/). Returns the values and the problems by field.
 */
async function readDestinationForm(
  c: Context<ConsoleEnv>,
): Promise<{ form: DestinationFormValues; errors: FieldErrors }> {
  const body = await c.req.parseBody({ all: true });
  const chosen = ([] as unknown[]).concat(body.events ?? []).map(String);
  const form: DestinationFormValues = {
    url: text(body.url),
    events: chosen.filter((e): e is EventFilter => (EVENT_FILTERS as readonly string[]).includes(e)),
    description: text(body.description),
  };
  const errors: FieldErrors = {};
  if (form.url === "") errors.url = "Enter the URL to send the changes to.";
  else if (form.url.length > DESTINATION_URL_MAX_LENGTH) {
    errors.url = `The URL is too long: at most ${DESTINATION_URL_MAX_LENGTH} characters.`;
  } else {
    const refusal = destinationUrlRefusal(c.env, form.url);
    if (refusal) errors.url = refusal.sentence;
  }
  const unknown = chosen.find((e) => !(EVENT_FILTERS as readonly string[]).includes(e));
  if (unknown !== undefined) {
    errors.events = `There is no change type "${unknown.slice(0, 40)}"; choose among ${EVENT_FILTERS.join(", ")}.`;
  } else if (form.events.length === 0) {
    errors.events = "Choose the changes to send: all contact changes, or at least one type.";
  }
  if (form.description.length > DESTINATION_DESCRIPTION_MAX_LENGTH) {
    errors.description = `The description is too long: at most ${DESTINATION_DESCRIPTION_MAX_LENGTH} characters.`;
  }
  return { form, errors };
}

async function destinationsPage(
  c: Context<ConsoleEnv>,
  options: {
    notice?: Notice | undefined;
    status?: 200 | 201 | 400;
    form?: DestinationFormValues;
    errors?: FieldErrors;
    created?: { destination: PublicDestination; secret: string };
  } = {},
) {
  const connection = await connectionOr404(c);
  const rows = await connectionData(c.env, connection.id).listDestinations();
  const created = options.created;
  return c.html(
    <Page
      title={`${connection.name}: destinations`}
      operator={c.var.operator}
      path="/console/connections"
      notice={options.notice}
    >
      <ConnectionTabs id={connection.id} current="destinations" />
      {created ? (
        <SecretShownOnce heading="The new destination's signing secret" secret={created.secret}>
          <p>
            Every delivery to <code>{created.destination.url}</code> is signed with it (Standard Webhooks).
            See <a href={destinationPath(connection.id, created.destination.id)}>its delivery log</a>.
          </p>
        </SecretShownOnce>
      ) : null}
      <p>
        The connection's changes, pushed to your app's URLs as Standard Webhooks: at least once, retried for
        at least 24 hours; a 410 answer disables the destination.
      </p>
      <DestinationsTable connectionId={connection.id} destinations={rows.map(toDestination)} />
      <AddDestinationForm
        connectionId={connection.id}
        operator={c.var.operator}
        form={options.form ?? EMPTY_DESTINATION_FORM}
        errors={options.errors ?? {}}
        allowLoopback={loadDestinationConfig(c.env).allowLoopback}
      />
    </Page>,
    options.status ?? 200,
  );
}

function logCursor(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!ATTEMPT_CURSOR.test(value))
    throw new ConsoleError(400, "That page of the delivery log does not exist.");
  return value;
}

function logQuery(c: Context<ConsoleEnv>): {
  status: DeliveryStatus | undefined;
  before: string | undefined;
} {
  return {
    status: choice(c.req.query("status"), DELIVERY_STATUSES, "delivery status"),
    before: logCursor(c.req.query("before")),
  };
}

/** A page of the destination's attempts (newest first) and where each of their deliveries stands now. */
async function deliveryLogPage(
  env: Env,
  connectionId: string,
  destinationId: string,
  query: { status: DeliveryStatus | undefined; before: string | undefined },
): Promise<DeliveryLogPage> {
  const data = connectionData(env, connectionId);
  const rows = await data.deliveryAttempts(destinationId, {
    limit: DELIVERY_LOG_PAGE_SIZE + 1,
    before: query.before,
    status: query.status,
  });
  const page = keysetPage(rows.map(toAttempt), DELIVERY_LOG_PAGE_SIZE, (a) => a.id);
  const ids = [...new Set(page.data.map((a) => a.deliveryId))];
  const states = await data.deliveryStates(destinationId, ids);
  return { attempts: page.data, next: page.next, states: new Map(states.map((s) => [s.id, s])) };
}

async function destinationPage(
  c: Context<ConsoleEnv>,
  options: {
    notice?: Notice | undefined;
    status?: 200 | 400;
    rotatedSecret?: string;
    since?: string;
    sinceError?: string;
  } = {},
) {
  const { connection, destination, previousUntil } = await destinationOr404(c);
  const query = logQuery(c);
  const log = await deliveryLogPage(c.env, connection.id, destination.id, query);
  const base = destinationPath(connection.id, destination.id);
  const enabled = destination.status === "enabled";
  const overlapHours = PREVIOUS_SECRET_MS / 3_600_000;
  const previousSigns = previousUntil !== null && previousUntil > Date.now();
  return c.html(
    <Page
      title={`${connection.name}: destination ${destination.id}`}
      operator={c.var.operator}
      path="/console/connections"
      notice={options.notice}
    >
      <ConnectionTabs id={connection.id} current="destinations" />
      <p>
        <a href={destinationPath(connection.id)}>All destinations</a>
      </p>
      {options.rotatedSecret ? (
        <SecretShownOnce heading="The new signing secret" secret={options.rotatedSecret}>
          <p>
            The old secret keeps signing for {overlapHours} hours
            {previousUntil !== null ? (
              <>
                {" "}
                (until <Time iso={new Date(previousUntil).toISOString()} />)
              </>
            ) : null}
            : every delivery carries both signatures meanwhile, so the receiver can switch when it likes.
          </p>
        </SecretShownOnce>
      ) : null}
      <dl class="facts">
        <dt>URL</dt>
        <dd>
          <code>{destination.url}</code>
        </dd>
        <dt>Changes sent</dt>
        <dd>
          <EventsTaken events={destination.events} />
        </dd>
        <dt>Status</dt>
        <dd>
          <DestinationStatus destination={destination} />
        </dd>
        <dt>Description</dt>
        <dd>{destination.description ?? <span class="muted">none</span>}</dd>
        <dt>Signing secret</dt>
        <dd>
          {previousSigns ? (
            <>
              rotated; the previous secret signs too until{" "}
              <Time iso={new Date(previousUntil ?? 0).toISOString()} />
            </>
          ) : (
            "one secret (shown only when it was made)"
          )}
        </dd>
        <dt>Created</dt>
        <dd>
          <Time iso={destination.createdAt} />
        </dd>
        <dt>Changed</dt>
        <dd>
          <Time iso={destination.updatedAt} />
        </dd>
      </dl>
      <section aria-labelledby="actions-heading">
        <h2 id="actions-heading">Actions</h2>
        {enabled ? (
          <ActionButton
            operator={c.var.operator}
            action={`${base}/disable`}
            label="Disable"
            name="Disable this destination"
            variant="secondary"
          />
        ) : (
          <ActionButton
            operator={c.var.operator}
            action={`${base}/enable`}
            label="Enable"
            name="Enable this destination"
          />
        )}{" "}
        <ActionButton
          operator={c.var.operator}
          action={`${base}/rotate-secret`}
          label="Rotate the signing secret"
          variant="secondary"
        />{" "}
        <a href={`${base}/delete`} class="danger-link">
          Delete this destination…
        </a>
        <p class="hint">
          Disabling stops sending at once and ends its pending deliveries as failed; after enabling it again,
          send them with "Send again since".
        </p>
      </section>
      <RecoverForm
        operator={c.var.operator}
        action={`${base}/recover`}
        since={options.since ?? utcDateTimeValue(Date.now() - DEFAULT_RECOVER_SPAN_MS)}
        error={options.sinceError}
      />
      <section aria-labelledby="log-heading">
        <h2 id="log-heading">Delivery log</h2>
        <DeliveryLogFilter action={base} status={query.status} />
        <DeliveryLog
          operator={c.var.operator}
          connectionId={connection.id}
          destinationId={destination.id}
          status={query.status}
          before={query.before}
          log={log}
        />
      </section>
    </Page>,
    options.status ?? 200,
  );
}

async function setStatus(c: Context<ConsoleEnv>, status: "enabled" | "disabled") {
  const connection = await connectionOr404(c);
  const destinationId = c.req.param("destinationId") ?? "";
  const row = await connectionData(c.env, connection.id).updateDestination(destinationId, { status });
  if (!row) throw new ConsoleError(404, "There is no such destination.");
  return c.redirect(withQuery(destinationPath(connection.id, destinationId), { done: status }), 303);
}

/** The notice a destination's page shows after an action redirected to it. */
function destinationNotice(c: Context<ConsoleEnv>): Notice | undefined {
  const done = c.req.query("done");
  if (done === "disabled") {
    return {
      kind: "status",
      text: "Destination disabled: nothing is sent to it, and its pending deliveries ended as failed.",
    };
  }
  if (done === "enabled") {
    return {
      kind: "status",
      text: 'Destination enabled: new changes are sent to it again. To send what it missed, use "Send again since".',
    };
  }
  const retried = c.req.query("retried");
  if (retried) return { kind: "status", text: `Delivery ${retried} is being sent again now.` };
  const recovered = c.req.query("recovered");
  if (recovered !== undefined) {
    const count = Number(recovered);
    if (!Number.isSafeInteger(count) || count < 0) return undefined;
    return {
      kind: "status",
      text:
        count === 0
          ? "Nothing to send again: every change since then that this destination takes was delivered."
          : `${count} ${count === 1 ? "delivery is" : "deliveries are"} being sent again now.`,
    };
  }
  return undefined;
}

/** A connection's destinations: list, add (secret shown once), enable/disable, rotate, delete, the delivery log with retry, and recovery since a time. */
export const destinationRouter = createConsoleRouter()
  .get("/:id/destinations", (c) => {
    const deleted = c.req.query("deleted");
    return destinationsPage(c, {
      notice: deleted
        ? { kind: "status", text: `Destination ${deleted} deleted, with its deliveries and their log.` }
        : undefined,
    });
  })
  .post("/:id/destinations", async (c) => {
    const connection = await connectionOr404(c);
    const { form, errors } = await readDestinationForm(c);
    const problems = Object.values(errors).filter((e): e is string => e !== undefined);
    if (problems.length > 0) {
      return destinationsPage(c, {
        form,
        errors,
        status: 400,
        notice: { kind: "alert", text: `The destination was not added. ${problems.join(" ")}` },
      });
    }
    const { destination, secret } = await connectionData(c.env, connection.id).createDestination(
      connection.id,
      {
        url: form.url,
        events: expandEvents(form.events),
        description: form.description || null,
      },
    );
    const created = toDestination(destination);
    return destinationsPage(c, {
      status: 201,
      created: { destination: created, secret },
      notice: { kind: "status", text: `Destination ${created.id} added.` },
    });
  })
  .get("/:id/destinations/:destinationId", (c) => destinationPage(c, { notice: destinationNotice(c) }))
  .get("/:id/destinations/:destinationId/log", async (c) => {
    const connection = await connectionOr404(c);
    const destinationId = c.req.param("destinationId");
    const query = logQuery(c);
    if (!(await connectionData(c.env, connection.id).getDestination(destinationId))) {
      // No trigger on the replacement: the page stops asking.
      return c.html(
        <div id="delivery-log">
          <p role="alert">This destination was deleted.</p>
        </div>,
      );
    }
    const log = await deliveryLogPage(c.env, connection.id, destinationId, query);
    return c.html(
      <DeliveryLog
        operator={c.var.operator}
        connectionId={connection.id}
        destinationId={destinationId}
        status={query.status}
        before={query.before}
        log={log}
      />,
    );
  })
  .post("/:id/destinations/:destinationId/disable", (c) => setStatus(c, "disabled"))
  .post("/:id/destinations/:destinationId/enable", (c) => setStatus(c, "enabled"))
  .post("/:id/destinations/:destinationId/rotate-secret", async (c) => {
    const { connection, destination } = await destinationOr404(c);
    const rotated = await connectionData(c.env, connection.id).rotateDestinationSecret(
      connection.id,
      destination.id,
    );
    if (!rotated) throw new ConsoleError(404, "There is no such destination.");
    return destinationPage(c, {
      rotatedSecret: rotated.secret,
      notice: { kind: "status", text: "A new signing secret was made." },
    });
  })
  .get("/:id/destinations/:destinationId/delete", async (c) => {
    const { connection, destination } = await destinationOr404(c);
    const base = destinationPath(connection.id, destination.id);
    return c.html(
      <Page
        title={`${connection.name}: delete destination ${destination.id}?`}
        operator={c.var.operator}
        path="/console/connections"
      >
        <ConnectionTabs id={connection.id} current="destinations" />
        <form method="post" action={`${base}/delete`} class="card">
          <CsrfField operator={c.var.operator} />
          <p>
            Nothing more is sent to <code>{destination.url}</code>, and its deliveries and their log are
            deleted too. This cannot be undone; to stop sending for a while, disable it instead.
          </p>
          <button type="submit" class="danger">
            Delete the destination for good
          </button>{" "}
          <a href={base}>Keep it</a>
        </form>
      </Page>,
    );
  })
  .post("/:id/destinations/:destinationId/delete", async (c) => {
    const connection = await connectionOr404(c);
    const destinationId = c.req.param("destinationId");
    if (!(await connectionData(c.env, connection.id).deleteDestination(destinationId))) {
      throw new ConsoleError(404, "There is no such destination.");
    }
    return c.redirect(withQuery(destinationPath(connection.id), { deleted: destinationId }), 303);
  })
  .post("/:id/destinations/:destinationId/deliveries/:deliveryId/retry", async (c) => {
    const connection = await connectionOr404(c);
    const { destinationId, deliveryId } = c.req.param();
    const retried = await connectionData(c.env, connection.id).retryDelivery(
      connection.id,
      destinationId,
      deliveryId,
    );
    if (!retried) throw new ConsoleError(404, "The destination has no such delivery.");
    return c.redirect(withQuery(destinationPath(connection.id, destinationId), { retried: deliveryId }), 303);
  })
  .post("/:id/destinations/:destinationId/recover", async (c) => {
    const { connection, destination } = await destinationOr404(c);
    const body = await c.req.parseBody();
    const value = text(body.since);
    const since = parseUtcDateTime(value, Date.now());
    if ("problem" in since) {
      return destinationPage(c, {
        status: 400,
        since: value,
        sinceError: since.problem,
        notice: { kind: "alert", text: `Nothing was sent again. ${since.problem}` },
      });
    }
    const pending = await connectionData(c.env, connection.id).recoverDeliveries(
      connection.id,
      destination.id,
      since.iso,
    );
    return c.redirect(withQuery(destinationPath(connection.id, destination.id), { recovered: pending }), 303);
  });
