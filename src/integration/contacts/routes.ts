import type { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import {
  type EntityTagCondition,
  evaluatePreconditions,
  formatEtag,
  parseEntityTagCondition,
  versionTag,
} from "../../lib/etag.ts";
import {
  CONDITIONAL_HEADERS,
  ETAG_HEADER,
  jsonRequestBody,
  NOT_MODIFIED_RESPONSE,
} from "../../lib/openapi.ts";
import { createRouter, type IntegrationEnv } from "../context.ts";
import { ApiError } from "../errors.ts";
import { connectionMapping } from "../field-mappings/connection-mapping.ts";
import { IDEMPOTENCY_KEY_HEADER, idempotency } from "../idempotency/idempotency-middleware.ts";
import { integrationJsonBody } from "../json-body.ts";
import { ACME_FAILURE_STATUSES, problemResponses } from "../problem-responses.ts";
import { API_KEY, securedRoute } from "../secured-route.ts";
import type { WriteConditions } from "./acme-contacts.ts";
import { customWrite } from "./contact-service.ts";
import { createContactService } from "./create-contact-service.ts";
import {
  type Contact,
  ContactCreateSchema,
  ContactIdParamsSchema,
  ContactListQuerySchema,
  ContactListSchema,
  ContactPatchSchema,
  ContactReplaceSchema,
  ContactSchema,
  ContactSeedUpdateSchema,
} from "./schemas.ts";

const contactResponse = (description: string) => ({
  description,
  headers: ETAG_HEADER,
  content: { "application/json": { schema: ContactSchema } },
});

/** The request's conditional fields: parsed, and as they are forwarded to Acme. */
interface Preconditions {
  ifMatch: EntityTagCondition | null;
  ifNoneMatch: EntityTagCondition | null;
  forward: WriteConditions;
}

/**
 * `If-Match` and `If-None-Match` (RFC 9110 13.1.1, 13.1.2). A well-formed field never fails here,
 * whatever tags it lists (a weak or unknown tag matches nothing: 412 later); only a malformed
 * one is refused. Throws ApiError `precondition_invalid` (400) naming the field.
 */
function preconditions(c: Context<IntegrationEnv>): Preconditions {
  const read = (name: "If-Match" | "If-None-Match") => {
    const value = c.req.header(name);
    const condition = parseEntityTagCondition(value);
    if (condition === "malformed") {
      throw new ApiError(
        "precondition_invalid",
        `${name} must be "*" or a list of entity tags such as "3".`,
        {
          errors: [{ field: name, message: 'must be "*" or a list of entity tags such as "3", W/"3"' }],
        },
      );
    }
    return { condition, value: condition === null ? undefined : value };
  };
  const ifMatch = read("If-Match");
  const ifNoneMatch = read("If-None-Match");
  return {
    ifMatch: ifMatch.condition,
    ifNoneMatch: ifNoneMatch.condition,
    forward: {
      ...(ifMatch.value !== undefined ? { "if-match": ifMatch.value } : {}),
      ...(ifNoneMatch.value !== undefined ? { "if-none-match": ifNoneMatch.value } : {}),
    },
  };
}

function withEtag(c: Context<IntegrationEnv>, contact: Contact) {
  c.header("ETag", formatEtag(contact.version));
  return contact;
}

/**
 * A create retried under a key whose first attempt never finished, and refused as a duplicate:
 * if the contact with that email has exactly the body's fields, it is the first attempt's, and
 * the answer is the 201 that attempt would have sent.
 */
async function createdByEarlierAttempt(
  c: Context<IntegrationEnv>,
  body: unknown,
  error: ApiError,
): Promise<Response | undefined> {
  if (error.code !== "duplicate_email") return undefined;
  const contact = await createContactService(c).findCreated(ContactCreateSchema.parse(body));
  if (!contact) return undefined;
  c.header("Location", `${c.req.path}/${contact.id}`);
  return c.json(withEtag(c, contact), 201);
}

/**
 * A create's `customFields` checked against the connection's mapping before an `Idempotency-Key`
 * is taken, as the route's schema is: a body refused for them takes no key, so the same request
 * under the same key runs once the fields are mapped. (Without a key the service checks them.)
 */
const customFieldsBeforeKey: MiddlewareHandler<IntegrationEnv> = async function customFieldsBeforeKey(
  c,
  next,
) {
  if (c.req.header("idempotency-key") === undefined) return next();
  const parsed = ContactCreateSchema.safeParse(JSON.parse(c.var.rawBody));
  if (parsed.success && parsed.data.customFields !== undefined) {
    const mapping = await connectionMapping(c.env, c.var.connection.id, {
      memoryTtlMs: c.var.config.cacheMemoryTtlMs,
      fresh: true,
    });
    customWrite(parsed.data.customFields, mapping);
  }
  return next();
};

/** A replace's `id`, when sent back, must name the contact in the path. */
function checkEchoedId(pathId: string, bodyId: string | undefined): void {
  if (bodyId !== undefined && bodyId !== pathId) {
    throw new ApiError("validation_failed", "The body's id is not the contact in the path.", {
      errors: [{ field: "id", message: "must be the id in the path (or left out)" }],
    });
  }
}

/** The OpenAPI tag of the `/api/v1` contact operations. */
export const CONTACTS_TAG = {
  name: "Contacts",
  description: "The contacts of the API key's connection, read and written through Acme.",
} as const;
/** The OpenAPI tag of the seed-compatible `/api/contacts` operations, listed apart from `/api/v1`'s. */
export const SEED_CONTACTS_TAG = {
  name: "Contacts (seed-compatible paths)",
  description:
    "The seed's `/api/contacts` paths, kept for existing callers: the same operations as Contacts, " +
    "except that PUT updates only the fields it is given. New callers use `/api/v1`.",
} as const;
type ContactTag = typeof CONTACTS_TAG.name | typeof SEED_CONTACTS_TAG.name;

/** PUT or PATCH of one contact: a JSON body, preconditions honoured, the contact back with its ETag. */
function contactWriteRoute<
  M extends "put" | "patch",
  S extends typeof ContactReplaceSchema | typeof ContactPatchSchema | typeof ContactSeedUpdateSchema,
>(tag: ContactTag, method: M, summary: string, body: S, description?: string) {
  return securedRoute({
    method,
    path: "/contacts/{id}",
    tags: [tag],
    summary,
    ...(description ? { description } : {}),
    security: API_KEY,
    middleware: [integrationJsonBody] as const,
    request: { params: ContactIdParamsSchema, headers: CONDITIONAL_HEADERS, body: jsonRequestBody(body) },
    responses: {
      200: contactResponse(method === "put" ? "Replaced" : "Updated"),
      ...problemResponses(400, 401, 404, 409, 412, 413, 415, ...ACME_FAILURE_STATUSES),
    },
  });
}

const REPLACE_DESCRIPTION =
  "Omitted optional fields become null. Whatever a GET returned is accepted back as it is: the " +
  "read-only fields (`id`, `version`, `createdAt`, `updatedAt`) are ignored, but `id` must be the " +
  "contact's own.";
const SEED_PUT_DESCRIPTION =
  "The seed's PUT: updates the fields it is given and keeps the others (as PATCH does; `/api/v1` " +
  "replaces). Read-only fields are accepted back and ignored, but `id` must be the contact's own.";

/**
 * The contact routes. `seedCompatiblePut`: PUT updates the fields it is given (the seed's
 * `/api/contacts` paths, tagged apart so the reference lists each operation once per group);
 * otherwise PUT is a full replace (`/api/v1`).
 */
function contactRoutes(options: { seedCompatiblePut: boolean }) {
  const tag: ContactTag = options.seedCompatiblePut ? SEED_CONTACTS_TAG.name : CONTACTS_TAG.name;
  return createRouter()

    .openapi(
      securedRoute({
        method: "get",
        path: "/contacts",
        tags: [tag],
        summary: "List contacts",
        security: API_KEY,
        request: { query: ContactListQuerySchema },
        responses: {
          200: {
            description: "A page of contacts",
            content: { "application/json": { schema: ContactListSchema } },
          },
          ...problemResponses(400, 401, ...ACME_FAILURE_STATUSES),
        },
      }),
      async (c) => {
        const query = c.req.valid("query");
        const page = await createContactService(c).list({
          limit: query.limit,
          ...(query.cursor ? { cursor: query.cursor } : {}),
          ...(query.email ? { email: query.email } : {}),
          ...(query.updatedSince ? { updatedSince: new Date(query.updatedSince).toISOString() } : {}),
          ...(query.includeDeleted ? { includeDeleted: true } : {}),
        });
        return c.json(page, 200);
      },
    )
    .openapi(
      securedRoute({
        method: "post",
        path: "/contacts",
        tags: [tag],
        summary: "Create a contact",
        description:
          "With `Idempotency-Key`, the same key and body replay the first response; the same key with " +
          "another body is 422; while the first request runs, 409.",
        security: API_KEY,
        middleware: [
          integrationJsonBody,
          customFieldsBeforeKey,
          idempotency({
            operation: "contacts.create",
            body: ContactCreateSchema,
            recoverTakeover: createdByEarlierAttempt,
          }),
        ] as const,
        request: {
          headers: IDEMPOTENCY_KEY_HEADER,
          body: jsonRequestBody(ContactCreateSchema),
        },
        responses: {
          201: contactResponse("Created"),
          ...problemResponses(400, 401, 409, 413, 415, 422, ...ACME_FAILURE_STATUSES),
        },
      }),
      async (c) => {
        const contact = await createContactService(c).create(c.req.valid("json"));
        c.header("Location", `${c.req.path}/${contact.id}`);
        return c.json(withEtag(c, contact), 201);
      },
    )
    .openapi(
      securedRoute({
        method: "get",
        path: "/contacts/{id}",
        tags: [tag],
        summary: "Get a contact (served from cache when fresh)",
        description:
          "`Cache-Control: no-cache` asks Acme even when the cached copy is fresh. While Acme fails, the " +
          "last good copy answers with `X-Cache: STALE` and `Age`.",
        security: API_KEY,
        request: { params: ContactIdParamsSchema, headers: CONDITIONAL_HEADERS },
        responses: {
          200: {
            ...contactResponse("The contact"),
            headers: {
              ...ETAG_HEADER,
              "X-Cache": {
                schema: { type: "string" as const, enum: ["HIT", "MISS", "STALE"] },
                description: "STALE: Acme is failing and this is the last good copy",
              },
              Age: {
                schema: { type: "integer" as const },
                description: "With STALE: the copy's age in seconds",
              },
            },
          },
          304: NOT_MODIFIED_RESPONSE,
          ...problemResponses(400, 401, 404, 412, ...ACME_FAILURE_STATUSES),
        },
      }),
      async (c) => {
        const conditions = preconditions(c);
        const revalidate = /(?:^|,)\s*no-cache\s*(?:,|$)/i.test(c.req.header("cache-control") ?? "");
        const read = await createContactService(c).get(c.req.valid("param").id, revalidate);
        c.var.stats.cache = read.cache;
        c.header("X-Cache", read.cache);
        // A stale copy (Acme failing) says how old it is, as RFC 9111's Age does.
        if (read.cache === "STALE") c.header("Age", String(read.ageSeconds));
        withEtag(c, read.contact);
        const outcome = evaluatePreconditions(conditions, versionTag(read.contact.version), "GET");
        if (outcome === "precondition_failed") {
          throw new ApiError("version_mismatch", "The contact is not at a version If-Match lists.");
        }
        if (outcome === "not_modified") return c.body(null, 304);
        return c.json(read.contact, 200);
      },
    )
    .openapi(
      options.seedCompatiblePut
        ? contactWriteRoute(
            tag,
            "put",
            "Update the fields given (the seed's PUT)",
            ContactSeedUpdateSchema,
            SEED_PUT_DESCRIPTION,
          )
        : contactWriteRoute(tag, "put", "Replace a contact", ContactReplaceSchema, REPLACE_DESCRIPTION),
      async (c) => {
        const { id } = c.req.valid("param");
        const input = c.req.valid("json");
        checkEchoedId(id, input.id);
        const conditions = preconditions(c).forward;
        const service = createContactService(c);
        const contact = options.seedCompatiblePut
          ? await service.patch(id, input, conditions)
          : await service.replace(id, input as z.infer<typeof ContactReplaceSchema>, conditions);
        return c.json(withEtag(c, contact), 200);
      },
    )
    .openapi(
      contactWriteRoute(
        tag,
        "patch",
        "Update some fields (merge patch: null clears an optional field)",
        ContactPatchSchema,
      ),
      async (c) => {
        const { id } = c.req.valid("param");
        const contact = await createContactService(c).patch(
          id,
          c.req.valid("json"),
          preconditions(c).forward,
        );
        return c.json(withEtag(c, contact), 200);
      },
    )
    .openapi(
      securedRoute({
        method: "delete",
        path: "/contacts/{id}",
        tags: [tag],
        summary: "Delete a contact",
        security: API_KEY,
        request: { params: ContactIdParamsSchema, headers: CONDITIONAL_HEADERS },
        responses: {
          204: { description: "Deleted" },
          ...problemResponses(400, 401, 404, 412, ...ACME_FAILURE_STATUSES),
        },
      }),
      async (c) => {
        await createContactService(c).remove(c.req.valid("param").id, preconditions(c).forward);
        return c.body(null, 204);
      },
    );
}

/** The contact routes of `/api/v1`: strict HTTP (PUT replaces). */
export const contactRouter = contactRoutes({ seedCompatiblePut: false });
/** The seed's `/api/contacts` routes: the same, but PUT updates the fields it is given. */
export const seedContactRouter = contactRoutes({ seedCompatiblePut: true });
