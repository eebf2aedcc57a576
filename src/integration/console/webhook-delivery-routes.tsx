import type { Context } from "hono";
import type { IntegrationEnv } from "../context.ts";
import { acmeClientFor } from "../context.ts";
import type { ConnectionRow } from "../db/schema.ts";
import { connectionHealth } from "./connection-health.ts";
import { ConnectionTabs } from "./connection-views.tsx";
import { type ConsoleEnv, createConsoleRouter } from "./context.ts";
import { ConsoleError } from "./errors.tsx";
import { ActionButton, NextPageLink, type Notice, Page, ScrollTable, Time } from "./layout.tsx";

interface AcmeSubscription {
  id: string;
  url: string;
  events: string[];
  enabled: boolean;
  disabled_reason: string | null;
  created_at: string;
}

interface AcmeDelivery {
  id: string;
  event_id: string;
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  attempt_log: {
    attempt: number;
    status_code: number | null;
    error: string | null;
    duration_ms: number;
    created_at: string;
  }[];
}

/**
 * Calls Acme as the connection (its own credentials, through the integration's Acme client: the
 * session's throttle, circuit and retries apply) and returns the body of a 2xx answer.
 */
async function callAcme(
  c: Context<ConsoleEnv>,
  connection: ConnectionRow,
  request: { method: "GET" | "POST"; path: string; query?: Record<string, string | undefined> },
): Promise<unknown> {
  const response = await acmeClientFor(c as unknown as Context<IntegrationEnv>, connection).send(request);
  if (response.status >= 200 && response.status < 300) return response.body;
  const message = (response.body as { error?: { message?: unknown } } | null)?.error?.message;
  const detail = typeof message === "string" ? message : `status ${response.status}`;
  if (response.status === 404) throw new ConsoleError(404, `Acme: ${detail}`);
  throw new ConsoleError(502, `Acme refused the request: ${detail}`);
}

async function connectionOr404(c: Context<ConsoleEnv>): Promise<ConnectionRow> {
  const found = await connectionHealth(c.env, c.req.param("id") ?? "");
  if (!found) throw new ConsoleError(404, "There is no such connection.");
  return found.row;
}

function DeliveryRows(props: {
  operator: ConsoleEnv["Variables"]["operator"];
  base: string;
  deliveries: AcmeDelivery[];
}) {
  return (
    <tbody>
      {props.deliveries.map((d) => (
        <tr data-delivery-id={d.id}>
          <td>
            <Time iso={d.created_at} />
            <br />
            <code class="muted">{d.event_id}</code>
          </td>
          <td>
            <span
              class={`badge ${d.status === "delivered" ? "healthy" : d.status === "dead" ? "failing" : "degraded"}`}
            >
              {d.status}
            </span>
          </td>
          <td>{d.attempts}</td>
          <td>
            {d.last_status_code ?? ""} {d.last_error ? <span class="muted">{d.last_error}</span> : null}
          </td>
          <td>
            <Time iso={d.next_attempt_at} />
          </td>
          <td>
            {d.attempt_log.length === 0 ? (
              <span class="muted">none</span>
            ) : (
              <details>
                <summary>{d.attempt_log.length} attempts</summary>
                <ol>
                  {d.attempt_log.map((a) => (
                    <li>
                      <Time iso={a.created_at} />: {a.status_code ?? a.error ?? "no answer"} in{" "}
                      {a.duration_ms} ms
                    </li>
                  ))}
                </ol>
              </details>
            )}
          </td>
          <td>
            <ActionButton
              operator={props.operator}
              action={`${props.base}/deliveries/${d.id}/retry`}
              label="Retry"
              name={`Retry delivery ${d.id}`}
            />
          </td>
        </tr>
      ))}
    </tbody>
  );
}

async function deliveriesPage(c: Context<ConsoleEnv>, notice?: Notice) {
  const connection = await connectionOr404(c);
  const subscriptionId = c.req.param("subscriptionId") ?? "";
  const before = c.req.query("before") || undefined;
  const body = (await callAcme(c, connection, {
    method: "GET",
    path: `/v1/webhooks/${encodeURIComponent(subscriptionId)}/deliveries`,
    query: { limit: "50", before },
  })) as { results: AcmeDelivery[]; paging?: { next: { before: string } } };
  const base = `/console/connections/${connection.id}/webhooks/${subscriptionId}`;
  return c.html(
    <Page
      title={`${connection.name}: deliveries of ${subscriptionId}`}
      operator={c.var.operator}
      path="/console/connections"
      notice={notice}
    >
      <ConnectionTabs id={connection.id} current="webhooks" />
      <p>
        <a href={`/console/connections/${connection.id}/webhooks`}>All subscriptions</a>
      </p>
      {body.results.length === 0 ? (
        <p>No deliveries yet.</p>
      ) : (
        <ScrollTable label="Webhook deliveries">
          <thead>
            <tr>
              <th scope="col">Created (event)</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last answer</th>
              <th scope="col">Next attempt</th>
              <th scope="col">Attempt log</th>
              <th scope="col">
                <span class="visually-hidden">Action</span>
              </th>
            </tr>
          </thead>
          <DeliveryRows operator={c.var.operator} base={base} deliveries={body.results} />
        </ScrollTable>
      )}
      <NextPageLink
        href={body.paging ? `${base}?before=${encodeURIComponent(body.paging.next.before)}` : null}
        label="Older deliveries"
      />
    </Page>,
  );
}

/** Acme's webhook delivery log per subscription, with retry; read from Acme as the connection. */
export const webhookDeliveryRouter = createConsoleRouter()
  .get("/:id/webhooks", async (c) => {
    const connection = await connectionOr404(c);
    const body = (await callAcme(c, connection, { method: "GET", path: "/v1/webhooks" })) as {
      results: AcmeSubscription[];
    };
    return c.html(
      <Page title={`${connection.name}: Acme webhooks`} operator={c.var.operator} path="/console/connections">
        <ConnectionTabs id={connection.id} current="webhooks" />
        {body.results.length === 0 ? (
          <p>The connection's Acme account has no webhook subscriptions.</p>
        ) : (
          <ScrollTable label="Webhook subscriptions at Acme">
            <thead>
              <tr>
                <th scope="col">Subscription</th>
                <th scope="col">URL</th>
                <th scope="col">Events</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {body.results.map((s) => (
                <tr data-subscription-id={s.id}>
                  <th scope="row">
                    <a href={`/console/connections/${connection.id}/webhooks/${s.id}`}>
                      Delivery log of {s.id}
                    </a>
                  </th>
                  <td>
                    <code>{s.url}</code>
                  </td>
                  <td>{s.events.join(", ")}</td>
                  <td>
                    {s.enabled ? "enabled" : `disabled${s.disabled_reason ? ` (${s.disabled_reason})` : ""}`}
                  </td>
                  <td>
                    <Time iso={s.created_at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </ScrollTable>
        )}
      </Page>,
    );
  })
  .get("/:id/webhooks/:subscriptionId", (c) => {
    const retried = c.req.query("retried");
    return deliveriesPage(
      c,
      retried ? { kind: "status", text: `Delivery ${retried} queued to be sent again.` } : undefined,
    );
  })
  .post("/:id/webhooks/:subscriptionId/deliveries/:deliveryId/retry", async (c) => {
    const connection = await connectionOr404(c);
    const { subscriptionId, deliveryId } = c.req.param();
    await callAcme(c, connection, {
      method: "POST",
      path: `/v1/webhooks/${encodeURIComponent(subscriptionId)}/deliveries/${encodeURIComponent(deliveryId)}/retry`,
    });
    return c.redirect(
      `/console/connections/${connection.id}/webhooks/${subscriptionId}?retried=${encodeURIComponent(deliveryId)}`,
      303,
    );
  });
