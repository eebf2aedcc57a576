import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { formatEtag, type IfMatch, parseIfMatch } from "../../lib/etag.ts";
import { ETAG_HEADER, IF_MATCH_HEADERS, jsonRequestBody } from "../../lib/openapi.ts";
import { createRouter, type IntegrationEnv } from "../context.ts";
import { idempotency } from "../idempotency/idempotency-middleware.ts";
import { integrationJsonBody } from "../json-body.ts";
import { ACME_FAILURE_STATUSES, problemResponses } from "../problem-responses.ts";
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
} from "./schemas.ts";

const security = [{ ApiKey: [] }];
const contactResponse = (description: string) => ({
  description,
  headers: ETAG_HEADER,
  content: { "application/json": { schema: ContactSchema } },
});

/** The request's If-Match, parsed (RFC 9110 section 13.1.1); null when absent. */
function ifMatch(c: Context<IntegrationEnv>): IfMatch | null {
  return parseIfMatch(c.req.header("if-match"));
}

function withEtag(c: Context<IntegrationEnv>, contact: Contact) {
  c.header("ETag", formatEtag(contact.version));
  return contact;
}

/** PUT or PATCH of one contact: a JSON body, If-Match honoured, the contact back with its ETag. */
function contactWriteRoute<
  M extends "put" | "patch",
  S extends typeof ContactReplaceSchema | typeof ContactPatchSchema,
>(method: M, summary: string, body: S) {
  return createRoute({
    method,
    path: "/contacts/{id}",
    tags: ["Contacts"],
    summary,
    security,
    middleware: [integrationJsonBody] as const,
    request: { params: ContactIdParamsSchema, headers: IF_MATCH_HEADERS, body: jsonRequestBody(body) },
    responses: {
      200: contactResponse(method === "put" ? "Replaced" : "Updated"),
      ...problemResponses(400, 401, 404, 409, 412, 413, 415, ...ACME_FAILURE_STATUSES),
    },
  });
}

export const contactRouter = createRouter()
  .openapi(
    createRoute({
      method: "get",
      path: "/contacts",
      tags: ["Contacts"],
      summary: "List contacts",
      security,
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
      });
      return c.json(page, 200);
    },
  )
  .openapi(
    createRoute({
      method: "post",
      path: "/contacts",
      tags: ["Contacts"],
      summary: "Create a contact",
      description:
        "With `Idempotency-Key`, the same key and body replay the first response; the same key with " +
        "another body is 422; while the first request runs, 409.",
      security,
      middleware: [
        integrationJsonBody,
        idempotency({ operation: "contacts.create", body: ContactCreateSchema }),
      ] as const,
      request: {
        headers: z.object({ "idempotency-key": z.string().optional() }),
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
    createRoute({
      method: "get",
      path: "/contacts/{id}",
      tags: ["Contacts"],
      summary: "Get a contact (served from cache when fresh)",
      description:
        "`Cache-Control: no-cache` asks Acme even when the cached copy is fresh. While Acme fails, the " +
        "last good copy answers with `X-Cache: STALE` and `Age`.",
      security,
      request: { params: ContactIdParamsSchema },
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
        ...problemResponses(400, 401, 404, ...ACME_FAILURE_STATUSES),
      },
    }),
    async (c) => {
      const revalidate = /(?:^|,)\s*no-cache\s*(?:,|$)/i.test(c.req.header("cache-control") ?? "");
      const read = await createContactService(c).get(c.req.valid("param").id, revalidate);
      c.var.stats.cache = read.cache;
      c.header("X-Cache", read.cache);
      // A stale copy (Acme failing) says how old it is, as RFC 9111's Age does.
      if (read.cache === "STALE") c.header("Age", String(read.ageSeconds));
      return c.json(withEtag(c, read.contact), 200);
    },
  )
  .openapi(
    contactWriteRoute("put", "Replace a contact (omitted optional fields become null)", ContactReplaceSchema),
    async (c) => {
      const { id } = c.req.valid("param");
      const contact = await createContactService(c).replace(id, c.req.valid("json"), ifMatch(c));
      return c.json(withEtag(c, contact), 200);
    },
  )
  .openapi(
    contactWriteRoute(
      "patch",
      "Update some fields (merge patch: null clears an optional field)",
      ContactPatchSchema,
    ),
    async (c) => {
      const { id } = c.req.valid("param");
      const contact = await createContactService(c).patch(id, c.req.valid("json"), ifMatch(c));
      return c.json(withEtag(c, contact), 200);
    },
  )
  .openapi(
    createRoute({
      method: "delete",
      path: "/contacts/{id}",
      tags: ["Contacts"],
      summary: "Delete a contact",
      security,
      request: { params: ContactIdParamsSchema, headers: IF_MATCH_HEADERS },
      responses: {
        204: { description: "Deleted" },
        ...problemResponses(400, 401, 404, 412, ...ACME_FAILURE_STATUSES),
      },
    }),
    async (c) => {
      await createContactService(c).remove(c.req.valid("param").id, ifMatch(c));
      return c.body(null, 204);
    },
  );
