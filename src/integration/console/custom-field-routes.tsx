import type { Context } from "hono";
import { errorFields, log } from "../../lib/logger.ts";
import { createAcmeClient } from "../acme-client/create-acme-client.ts";
import { findConnection } from "../connections/connection-store.ts";
import { CUSTOM_FIELD_NAME, type CustomFieldMapping } from "../contacts/mapping.ts";
import type { ConnectionRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { type AcmeProperty, acmeProperties } from "../field-mappings/acme-properties.ts";
import { connectionMapping } from "../field-mappings/connection-mapping.ts";
import { contactJsonSchema } from "../field-mappings/contact-json-schema.ts";
import { type RequestedMapping, replaceMapping } from "../field-mappings/replace-mapping.ts";
import { ConnectionTabs } from "./connection-views.tsx";
import { type ConsoleEnv, createConsoleRouter } from "./context.ts";
import {
  customFieldsPath,
  FIELD_PREFIX,
  MappingForm,
  type MappingRow,
  StoredMapping,
} from "./custom-field-views.tsx";
import { ConsoleError } from "./errors.tsx";
import { type Notice, Page } from "./layout.tsx";

async function connectionOr404(c: Context<ConsoleEnv>): Promise<ConnectionRow> {
  // An id that names no connection gets no object made for it.
  const connection = await findConnection(c.env.DB, c.req.param("id") ?? "");
  if (!connection) throw new ConsoleError(404, "There is no such connection.");
  return connection;
}

/** The connection's Acme properties, live (null when Acme cannot answer now: the page says so). */
async function livePropertiesOf(
  c: Context<ConsoleEnv>,
  connection: ConnectionRow,
): Promise<AcmeProperty[] | null> {
  const client = createAcmeClient(c.env, c.var.config, connection, {
    inProcess: c.var.acmeTransport,
    stats: c.var.stats,
    priority: "interactive",
    requestId: c.var.requestId,
    defer: c.var.defer,
  });
  try {
    return await acmeProperties(client);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    log("warn", "console: Acme properties not read", { connectionId: connection.id, ...errorFields(error) });
    return null;
  }
}

/** A row per Acme property, and one per mapped property Acme no longer lists; names as stored unless typed. */
function mappingRows(
  properties: AcmeProperty[],
  mapping: readonly CustomFieldMapping[],
  typed?: Map<string, string>,
  errors?: Map<string, string>,
): MappingRow[] {
  const mappedAs = new Map(mapping.map((m) => [m.remote, m.apiName]));
  const remotes = [...properties.map((p) => p.name), ...mapping.map((m) => m.remote)];
  const byName = new Map(properties.map((p) => [p.name, p]));
  return [...new Set(remotes)].map((remote) => ({
    remote,
    property: byName.get(remote) ?? null,
    apiName: typed?.get(remote) ?? mappedAs.get(remote) ?? "",
    error: errors?.get(remote),
  }));
}

async function customFieldsPage(
  c: Context<ConsoleEnv>,
  options: {
    notice?: Notice | undefined;
    status?: 200 | 400 | 422;
    typed?: Map<string, string>;
    errors?: Map<string, string>;
  } = {},
) {
  const connection = await connectionOr404(c);
  const [properties, mapping] = await Promise.all([
    livePropertiesOf(c, connection),
    connectionMapping(c.env, connection.id, { memoryTtlMs: c.var.config.cacheMemoryTtlMs, fresh: true }),
  ]);
  const notice =
    options.notice ??
    (properties === null
      ? {
          kind: "alert" as const,
          text: "Acme cannot be asked for the account's properties now; try again shortly.",
        }
      : undefined);
  return c.html(
    <Page
      title={`${connection.name}: custom fields`}
      operator={c.var.operator}
      path="/console/connections"
      notice={notice}
    >
      <ConnectionTabs id={connection.id} current="custom-fields" />
      <p>
        Each custom field maps an Acme property to a name of the API's own, in contacts'{" "}
        <code>customFields</code>.
      </p>
      <section aria-labelledby="mapping-heading">
        <h2 id="mapping-heading">Mapping</h2>
        {properties === null ? (
          <StoredMapping mapping={mapping} />
        ) : (
          <MappingForm
            action={customFieldsPath(connection.id)}
            operator={c.var.operator}
            rows={mappingRows(properties, mapping, options.typed, options.errors)}
          />
        )}
      </section>
      <section aria-labelledby="schema-heading">
        <h2 id="schema-heading">The contact's JSON Schema</h2>
        <pre id="contact-schema">
          <code>{JSON.stringify(contactJsonSchema(mapping), null, 2)}</code>
        </pre>
      </section>
    </Page>,
    options.status ?? 200,
  );
}

/**
 * The form read into a mapping: each row's API name (blank: not mapped), with the problems the
 * form alone shows (a name outside the pattern, one name on two rows), by Acme property.
 */
function readMappingForm(body: Record<string, unknown>): {
  typed: Map<string, string>;
  requested: RequestedMapping;
  errors: Map<string, string>;
} {
  const typed = new Map<string, string>();
  const requested: RequestedMapping = {};
  const errors = new Map<string, string>();
  const rowOf = new Map<string, string>();
  for (const [key, value] of Object.entries(body)) {
    if (!key.startsWith(FIELD_PREFIX) || typeof value !== "string") continue;
    const remote = key.slice(FIELD_PREFIX.length);
    const apiName = value.trim();
    typed.set(remote, apiName);
    if (apiName === "") continue;
    if (!CUSTOM_FIELD_NAME.test(apiName)) {
      errors.set(remote, "Use a lowercase letter, then up to 63 letters or digits.");
      continue;
    }
    const earlier = rowOf.get(apiName);
    if (earlier !== undefined) {
      errors.set(remote, `"${apiName}" is already the name of ${earlier}'s field.`);
      continue;
    }
    rowOf.set(apiName, remote);
    requested[apiName] = { remote };
  }
  return { typed, requested, errors };
}

/** A refused mapping's problems (named `customFields.<apiName>[.remote]`) on the rows of their Acme properties. */
function problemsByRow(error: ApiError, requested: RequestedMapping): Map<string, string> {
  const errors = new Map<string, string>();
  for (const problem of error.options.errors ?? []) {
    const apiName = problem.field.split(".")[1] ?? "";
    const remote = Object.hasOwn(requested, apiName) ? requested[apiName]?.remote : undefined;
    if (remote !== undefined && !errors.has(remote)) {
      errors.set(
        remote,
        problem.field.endsWith(".remote") ? `${problem.message}.` : `"${apiName}" ${problem.message}.`,
      );
    }
  }
  return errors;
}

/** A connection's custom fields: its Acme properties, the mapping edited, and the resulting contact schema. */
export const customFieldRouter = createConsoleRouter()
  .get("/:id/custom-fields", (c) =>
    customFieldsPage(c, {
      notice:
        c.req.query("saved") !== undefined
          ? { kind: "status", text: "Mapping saved: it applies now." }
          : undefined,
    }),
  )
  .post("/:id/custom-fields", async (c) => {
    const connection = await connectionOr404(c);
    const { typed, requested, errors } = readMappingForm(await c.req.parseBody());
    if (errors.size > 0) {
      return customFieldsPage(c, {
        status: 400,
        typed,
        errors,
        notice: { kind: "alert", text: "The mapping was not saved: see the fields marked below." },
      });
    }
    try {
      await replaceMapping(
        c.env,
        connection.id,
        requested,
        async () => {
          const properties = await livePropertiesOf(c, connection);
          if (properties === null) {
            throw new ConsoleError(
              503,
              "Acme cannot be asked for the account's properties now; try again shortly.",
            );
          }
          return properties;
        },
        c.var.config.cacheMemoryTtlMs,
      );
    } catch (error) {
      if (!(error instanceof ApiError) || !error.options.errors) throw error;
      return customFieldsPage(c, {
        status: error.status === 422 ? 422 : 400,
        typed,
        errors: problemsByRow(error, requested),
        notice: { kind: "alert", text: `The mapping was not saved. ${error.message}` },
      });
    }
    return c.redirect(`${customFieldsPath(connection.id)}?saved=1`, 303);
  });
