import { jsonRequestBody, jsonResponse } from "../../lib/openapi.ts";
import type { CustomFieldMapping } from "../contacts/mapping.ts";
import { acmeClientFor, createRouter } from "../context.ts";
import { integrationJsonBody } from "../json-body.ts";
import { ACME_FAILURE_STATUSES, problemResponses } from "../problem-responses.ts";
import { API_KEY, securedRoute } from "../secured-route.ts";
import { acmeProperties } from "./acme-properties.ts";
import { connectionMapping } from "./connection-mapping.ts";
import { contactJsonSchema } from "./contact-json-schema.ts";
import { replaceMapping } from "./replace-mapping.ts";
import { ContactJsonSchemaSchema, FieldMappingsSchema, RemoteFieldListSchema } from "./schemas.ts";

const TAG = "Custom fields";

/** The mapping as the API shows it: each custom field's Acme property, by API name. */
function toFieldMappings(mapping: readonly CustomFieldMapping[]) {
  return { customFields: Object.fromEntries(mapping.map((m) => [m.apiName, { remote: m.remote }])) };
}

/**
 * Discovery of the connection's Acme properties and its custom-field mapping: which Acme property
 * each `customFields.<apiName>` of its contacts reads and writes.
 */
export const fieldMappingsRouter = createRouter()
  .openapi(
    securedRoute({
      method: "get",
      path: "/remote-fields",
      tags: [TAG],
      summary: "The connection's Acme properties (live from Acme), archived ones included",
      security: API_KEY,
      responses: {
        200: jsonResponse("The properties of the connection's Acme account", RemoteFieldListSchema),
        ...problemResponses(401, ...ACME_FAILURE_STATUSES),
      },
    }),
    async (c) => {
      const properties = await acmeProperties(acmeClientFor(c));
      const data = properties.map((p) => ({
        name: p.name,
        label: p.label,
        type: p.type,
        ...(p.options !== undefined ? { options: p.options } : {}),
        archived: p.archived,
      }));
      return c.json({ data }, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/field-mappings",
      tags: [TAG],
      summary: "The connection's custom-field mapping",
      security: API_KEY,
      responses: {
        200: jsonResponse("Each custom field's Acme property, by API name", FieldMappingsSchema),
        ...problemResponses(401),
      },
    }),
    async (c) => {
      const mapping = await connectionMapping(c.env, c.var.connection.id, {
        memoryTtlMs: c.var.config.cacheMemoryTtlMs,
        fresh: true,
      });
      return c.json(toFieldMappings(mapping), 200);
    },
  )
  .openapi(
    securedRoute({
      method: "put",
      path: "/field-mappings",
      tags: [TAG],
      summary: "Replace the connection's custom-field mapping",
      description:
        "Applies at once to every read, list, feed page and delivery, with no call to Acme and no resync. " +
        "A contact field's name, or one Acme property mapped twice: 400 naming it. A property the account " +
        "lacks or has archived: 422 `unknown_remote_field` naming it. A refused PUT changes nothing.",
      security: API_KEY,
      middleware: [integrationJsonBody] as const,
      request: { body: jsonRequestBody(FieldMappingsSchema) },
      responses: {
        200: jsonResponse("The mapping as stored", FieldMappingsSchema),
        ...problemResponses(400, 401, 413, 415, 422, ...ACME_FAILURE_STATUSES),
      },
    }),
    async (c) => {
      const stored = await replaceMapping(
        c.env,
        c.var.connection.id,
        c.req.valid("json").customFields,
        () => acmeProperties(acmeClientFor(c)),
        c.var.config.cacheMemoryTtlMs,
      );
      return c.json(toFieldMappings(stored), 200);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/field-mappings/schema",
      tags: [TAG],
      summary: "The JSON Schema of this connection's contact, custom fields typed as mapped",
      security: API_KEY,
      responses: {
        200: jsonResponse("A JSON Schema (draft 2020-12)", ContactJsonSchemaSchema),
        ...problemResponses(401),
      },
    }),
    async (c) => {
      const mapping = await connectionMapping(c.env, c.var.connection.id, {
        memoryTtlMs: c.var.config.cacheMemoryTtlMs,
        fresh: true,
      });
      return c.json(ContactJsonSchemaSchema.parse(contactJsonSchema(mapping)), 200);
    },
  );
