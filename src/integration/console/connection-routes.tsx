import type { Context } from "hono";
import type { Child } from "hono/jsx";
import { problemDetail } from "./admin-api.ts";
import {
  type ConnectionHealth,
  connectionHealth,
  listApiKeys,
  listConnectionHealth,
} from "./connection-health.ts";
import { ConnectionsTable, ConnectionTabs, HealthFacts } from "./connection-views.tsx";
import { type ConsoleEnv, createConsoleRouter } from "./context.ts";
import { ConsoleError } from "./errors.tsx";
import { ChoiceField, FilterForm, SearchField } from "./filter-form.tsx";
import { choice, searchText, withQuery } from "./filters.ts";
import { ActionButton, CsrfField, NextPageLink, type Notice, Page, ScrollTable, Time } from "./layout.tsx";
import type { OperatorSignIn } from "./operator-cookie.ts";

interface ConnectionForm {
  name: string;
  acmeBaseUrl: string;
  acmeClientId: string;
  subscribe: boolean;
}

const EMPTY_FORM: ConnectionForm = { name: "", acmeBaseUrl: "", acmeClientId: "", subscribe: true };

/** The create-a-connection form; the client secret is never written back into it. */
function CreateConnectionForm(props: {
  operator: OperatorSignIn;
  form: ConnectionForm;
  errors: Record<string, string>;
}) {
  const field = (
    name: keyof ConnectionForm | "acmeClientSecret",
    label: string,
    input: Child,
    hint?: string,
  ) => (
    <div class="field">
      <label for={name}>{label}</label>
      {hint ? (
        <p class="hint" id={`${name}-hint`}>
          {hint}
        </p>
      ) : null}
      {input}
      {props.errors[name] ? (
        <p class="error" id={`${name}-error`}>
          {props.errors[name]}
        </p>
      ) : null}
    </div>
  );
  const described = (name: string, hint: boolean) =>
    [hint ? `${name}-hint` : "", props.errors[name] ? `${name}-error` : ""].filter(Boolean).join(" ") ||
    undefined;
  return (
    <form method="post" action="/console/connections" class="card">
      <h2>Create a connection</h2>
      <CsrfField operator={props.operator} />
      {field(
        "name",
        "Name",
        <input
          id="name"
          name="name"
          required
          maxlength={100}
          value={props.form.name}
          aria-describedby={described("name", false)}
        />,
      )}
      {field(
        "acmeBaseUrl",
        "Acme base URL (optional)",
        <input
          id="acmeBaseUrl"
          name="acmeBaseUrl"
          type="url"
          placeholder="https://acme.example/acme"
          value={props.form.acmeBaseUrl}
          aria-describedby={described("acmeBaseUrl", true)}
        />,
        "Empty: the deployment's default (ACME_BASE_URL, or the mock Acme in this Worker).",
      )}
      {field(
        "acmeClientId",
        "Acme client id",
        <input
          id="acmeClientId"
          name="acmeClientId"
          required
          maxlength={200}
          autocomplete="off"
          value={props.form.acmeClientId}
          aria-describedby={described("acmeClientId", false)}
        />,
      )}
      {field(
        "acmeClientSecret",
        "Acme client secret",
        <input
          id="acmeClientSecret"
          name="acmeClientSecret"
          type="password"
          required
          maxlength={500}
          autocomplete="off"
          aria-describedby={described("acmeClientSecret", true)}
        />,
        "Stored encrypted; never shown again.",
      )}
      <div class="field checkbox">
        <input id="subscribe" name="subscribe" type="checkbox" value="1" checked={props.form.subscribe} />
        <label for="subscribe">Subscribe to Acme's webhooks now (uses the connection's credentials)</label>
      </div>
      <button type="submit">Create connection</button>
    </form>
  );
}

interface ConnectLinkForm {
  endUserId: string;
  method: "oauth" | "client_credentials";
  redirectUrl: string;
}

const EMPTY_LINK_FORM: ConnectLinkForm = { endUserId: "", method: "oauth", redirectUrl: "" };

/** A connect link just issued: the URL to hand the end user, and until when it works. */
interface IssuedLink {
  url: string;
  expiresAt: string;
}

/** The link issued, to copy: it is shown this once (only its hash is kept). */
function IssuedLinkCard({ link }: { link: IssuedLink }) {
  return (
    <section class="card issued" aria-labelledby="link-heading">
      <h2 id="link-heading">Connect link</h2>
      <p>
        Send it to the end user. It works once, until <Time iso={link.expiresAt} />, and is shown only now.
      </p>
      <p>
        <output id="connect-link" class="secret">
          {link.url}
        </output>
      </p>
    </section>
  );
}

/** The create-a-connect-link form: the end user, the method, where the browser goes afterwards. */
function CreateConnectLinkForm(props: {
  operator: OperatorSignIn;
  form: ConnectLinkForm;
  errors: Record<string, string>;
}) {
  const error = (name: string) =>
    props.errors[name] ? (
      <p class="error" id={`link-${name}-error`}>
        {props.errors[name]}
      </p>
    ) : null;
  return (
    <form method="post" action="/console/connections/connect-links" class="card">
      <h2>Create a connect link</h2>
      <p class="hint">
        A single-use link to the hosted connect page, for one of your customers to connect their Acme account.
      </p>
      <CsrfField operator={props.operator} />
      <div class="field">
        <label for="link-endUserId">End user id</label>
        <input
          id="link-endUserId"
          name="endUserId"
          required
          maxlength={200}
          value={props.form.endUserId}
          aria-describedby={props.errors.endUserId ? "link-endUserId-error" : undefined}
        />
        {error("endUserId")}
      </div>
      <div class="field">
        <label for="link-method">Method</label>
        <select id="link-method" name="method">
          <option value="oauth" selected={props.form.method === "oauth"}>
            OAuth (sign in at Acme and approve)
          </option>
          <option value="client_credentials" selected={props.form.method === "client_credentials"}>
            Client credentials (enter the account's client id and secret)
          </option>
        </select>
        {error("method")}
      </div>
      <div class="field">
        <label for="link-redirectUrl">Redirect URL (optional)</label>
        <input
          id="link-redirectUrl"
          name="redirectUrl"
          type="url"
          maxlength={2000}
          placeholder="https://app.example.com/acme/done"
          value={props.form.redirectUrl}
          aria-describedby={props.errors.redirectUrl ? "link-redirectUrl-error" : undefined}
        />
        {error("redirectUrl")}
      </div>
      <button type="submit">Create connect link</button>
    </form>
  );
}

async function connectionsPage(
  c: Context<ConsoleEnv>,
  options: {
    form?: ConnectionForm;
    errors?: Record<string, string>;
    notice?: Notice;
    status?: 200 | 201 | 400 | 502;
    linkForm?: ConnectLinkForm;
    linkErrors?: Record<string, string>;
    link?: IssuedLink;
  } = {},
) {
  const after = c.req.query("after") || undefined;
  const search = searchText(c.req.query("q"));
  const { data, nextAfter } = await listConnectionHealth(c.env, after, search);
  return c.html(
    <Page title="Connections" operator={c.var.operator} path={c.req.path} notice={options.notice}>
      <FilterForm action="/console/connections" label="Filter connections" active={search !== undefined}>
        <SearchField name="q" label="Name or id contains" value={search} />
      </FilterForm>
      {options.link ? <IssuedLinkCard link={options.link} /> : null}
      <ConnectionsTable data={data} after={after} nextAfter={nextAfter} search={search} />
      <CreateConnectLinkForm
        operator={c.var.operator}
        form={options.linkForm ?? EMPTY_LINK_FORM}
        errors={options.linkErrors ?? {}}
      />
      <CreateConnectionForm
        operator={c.var.operator}
        form={options.form ?? EMPTY_FORM}
        errors={options.errors ?? {}}
      />
    </Page>,
    options.status ?? 200,
  );
}

/** The key states the API keys filter offers. */
const KEY_STATES = ["active", "revoked"] as const;

async function healthOr404(c: Context<ConsoleEnv>): Promise<ConnectionHealth> {
  const found = await connectionHealth(c.env, c.req.param("id") ?? "");
  if (!found) throw new ConsoleError(404, "There is no such connection.");
  return found.health;
}

function text(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}

async function overviewPage(
  c: Context<ConsoleEnv>,
  notice?: Notice,
  status: 200 | 201 | 502 = 200,
  issuedKey?: string,
  link?: IssuedLink,
) {
  const health = await healthOr404(c);
  const before = c.req.query("keysBefore") || undefined;
  const keyFilter = {
    search: searchText(c.req.query("keys")),
    state: choice(c.req.query("keyState"), KEY_STATES, "key state"),
  };
  const keys = await listApiKeys(c.env, health.id, before, keyFilter);
  const base = `/console/connections/${health.id}`;
  const filtered = keyFilter.search !== undefined || keyFilter.state !== undefined;
  return c.html(
    <Page title={health.name} operator={c.var.operator} path="/console/connections" notice={notice}>
      <ConnectionTabs id={health.id} current="overview" />
      {link ? <IssuedLinkCard link={link} /> : null}
      {issuedKey ? (
        <section class="card issued" aria-labelledby="issued-heading">
          <h2 id="issued-heading">New API key</h2>
          <p>Copy it now: it is shown this once, and only its hash is kept.</p>
          <p>
            <output id="issued-key" class="secret">
              {issuedKey}
            </output>
          </p>
        </section>
      ) : null}
      <section aria-labelledby="health-heading">
        <h2 id="health-heading">Health</h2>
        <HealthFacts health={health} />
        {health.needsReauth ? (
          <ActionButton
            operator={c.var.operator}
            action={`${base}/reconnect`}
            label="Reconnect"
            name="Reconnect: create a connect link that repairs this connection"
          />
        ) : null}
        {health.webhooksConfigured ? null : (
          <ActionButton
            operator={c.var.operator}
            action={`${base}/webhook-subscription`}
            label="Subscribe to Acme's webhooks"
          />
        )}
      </section>
      <section aria-labelledby="keys-heading">
        <h2 id="keys-heading">API keys</h2>
        <ActionButton operator={c.var.operator} action={`${base}/api-keys`} label="Issue an API key" />
        <FilterForm action={base} label="Filter API keys" active={filtered}>
          <SearchField name="keys" label="Key prefix or id contains" value={keyFilter.search} />
          <ChoiceField name="keyState" label="State" value={keyFilter.state} options={KEY_STATES} />
        </FilterForm>
        {keys.data.length === 0 ? (
          <p>{filtered ? "No API key matches the filter." : "No API keys yet."}</p>
        ) : (
          <ScrollTable label="API keys">
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Issued</th>
                <th scope="col">Revoked</th>
                <th scope="col">
                  <span class="visually-hidden">Action</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.data.map((k) => (
                <tr data-key-id={k.id}>
                  <th scope="row">
                    <code>{k.prefix}…</code> <span class="muted">{k.id}</span>
                  </th>
                  <td>
                    <Time iso={k.createdAt} />
                  </td>
                  <td>{k.revokedAt ? <Time iso={k.revokedAt} /> : <span class="muted">active</span>}</td>
                  <td>
                    {k.revokedAt ? null : (
                      <ActionButton
                        operator={c.var.operator}
                        action={`${base}/api-keys/${k.id}/revoke`}
                        label="Revoke"
                        name={`Revoke key ${k.prefix}…`}
                        variant="danger"
                      />
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </ScrollTable>
        )}
        <NextPageLink
          href={
            keys.nextBefore &&
            withQuery(base, {
              keys: keyFilter.search,
              keyState: keyFilter.state,
              keysBefore: keys.nextBefore,
            })
          }
          label="Older keys"
        />
      </section>
    </Page>,
    status,
  );
}

/** Connections and their health, create a connection, issue and revoke API keys. */
export const connectionRouter = createConsoleRouter()
  .get("/", (c) => connectionsPage(c))
  .get("/table", async (c) => {
    const after = c.req.query("after") || undefined;
    const search = searchText(c.req.query("q"));
    const { data, nextAfter } = await listConnectionHealth(c.env, after, search);
    return c.html(<ConnectionsTable data={data} after={after} nextAfter={nextAfter} search={search} />);
  })
  .post("/", async (c) => {
    const input = await c.req.parseBody();
    const form: ConnectionForm = {
      name: text(input.name),
      acmeBaseUrl: text(input.acmeBaseUrl),
      acmeClientId: text(input.acmeClientId),
      subscribe: input.subscribe === "1",
    };
    const created = await c.var.adminApi("POST", "/api/v1/admin/connections", {
      name: form.name,
      acmeBaseUrl: form.acmeBaseUrl || null,
      acmeClientId: form.acmeClientId,
      acmeClientSecret: typeof input.acmeClientSecret === "string" ? input.acmeClientSecret : "",
    });
    if (created.status !== 201) {
      const fieldErrors =
        (created.body as { errors?: { field: string; message: string }[] } | null)?.errors ?? [];
      return connectionsPage(c, {
        form,
        errors: Object.fromEntries(fieldErrors.map((e) => [e.field, e.message])),
        notice: { kind: "alert", text: `The connection was not created: ${problemDetail(created.body)}` },
        status: 400,
      });
    }
    const id = (created.body as { id: string }).id;
    if (form.subscribe) {
      const subscribed = await c.var.adminApi("POST", `/api/v1/admin/connections/${id}/webhook-subscription`);
      if (subscribed.status !== 201) {
        return c.redirect(`/console/connections/${id}?notice=subscribe-failed`, 303);
      }
    }
    return c.redirect(`/console/connections/${id}?notice=created`, 303);
  })
  .post("/connect-links", async (c) => {
    const input = await c.req.parseBody();
    const form: ConnectLinkForm = {
      endUserId: text(input.endUserId),
      method: input.method === "client_credentials" ? "client_credentials" : "oauth",
      redirectUrl: text(input.redirectUrl),
    };
    const created = await c.var.adminApi("POST", "/api/v1/admin/connect-sessions", {
      endUserId: form.endUserId,
      method: form.method,
      ...(form.redirectUrl ? { redirectUrl: form.redirectUrl } : {}),
    });
    if (created.status !== 201) {
      const fieldErrors =
        (created.body as { errors?: { field: string; message: string }[] } | null)?.errors ?? [];
      return connectionsPage(c, {
        linkForm: form,
        linkErrors: Object.fromEntries(fieldErrors.map((e) => [e.field, e.message])),
        notice: { kind: "alert", text: `No connect link was created: ${problemDetail(created.body)}` },
        status: 400,
      });
    }
    return connectionsPage(c, {
      notice: { kind: "status", text: "Connect link created." },
      link: created.body as IssuedLink,
      status: 201,
    });
  })
  .post("/:id/reconnect", async (c) => {
    const health = await healthOr404(c);
    const created = await c.var.adminApi("POST", "/api/v1/admin/connect-sessions", {
      // An operator-made connection has no end user: its own id stands in.
      endUserId: health.endUserId ?? health.id,
      method: health.method,
      connectionId: health.id,
    });
    if (created.status !== 201) {
      throw new ConsoleError(502, `No connect link was created: ${problemDetail(created.body)}`);
    }
    return overviewPage(
      c,
      { kind: "status", text: "Connect link created: it repairs this connection in place." },
      201,
      undefined,
      created.body as IssuedLink,
    );
  })
  .get("/:id", (c) => {
    const notice = c.req.query("notice");
    const revoked = c.req.query("revoked");
    if (notice === "created") return overviewPage(c, { kind: "status", text: "Connection created." });
    if (notice === "subscribed")
      return overviewPage(c, { kind: "status", text: "Subscribed to Acme's webhooks." });
    if (notice === "subscribe-failed") {
      return overviewPage(c, {
        kind: "alert",
        text: "The connection was created, but subscribing to Acme's webhooks failed; try again below.",
      });
    }
    if (revoked) return overviewPage(c, { kind: "status", text: `API key ${revoked} revoked.` });
    return overviewPage(c);
  })
  .post("/:id/api-keys", async (c) => {
    const issued = await c.var.adminApi("POST", `/api/v1/admin/connections/${c.req.param("id")}/api-keys`);
    if (issued.status === 404) throw new ConsoleError(404, "There is no such connection.");
    if (issued.status !== 201)
      throw new ConsoleError(502, `No key was issued: ${problemDetail(issued.body)}`);
    const key = issued.body as { apiKey: string };
    return overviewPage(c, { kind: "status", text: "API key issued." }, 201, key.apiKey);
  })
  .post("/:id/api-keys/:keyId/revoke", async (c) => {
    const keyId = c.req.param("keyId");
    const revoked = await c.var.adminApi("DELETE", `/api/v1/admin/api-keys/${encodeURIComponent(keyId)}`);
    if (revoked.status === 404) throw new ConsoleError(404, "There is no such API key.");
    if (revoked.status !== 204)
      throw new ConsoleError(502, `The key was not revoked: ${problemDetail(revoked.body)}`);
    return c.redirect(`/console/connections/${c.req.param("id")}?revoked=${encodeURIComponent(keyId)}`, 303);
  })
  .post("/:id/webhook-subscription", async (c) => {
    const id = c.req.param("id");
    const subscribed = await c.var.adminApi(
      "POST",
      `/api/v1/admin/connections/${encodeURIComponent(id)}/webhook-subscription`,
    );
    if (subscribed.status === 404) throw new ConsoleError(404, "There is no such connection.");
    if (subscribed.status !== 201) {
      return overviewPage(
        c,
        { kind: "alert", text: `Subscribing failed: ${problemDetail(subscribed.body)}` },
        502,
      );
    }
    return c.redirect(`/console/connections/${id}?notice=subscribed`, 303);
  });
