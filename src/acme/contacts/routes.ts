import type { Context } from "hono";
import { formatEtag } from "../../lib/etag.ts";
import { executionContextOf } from "../../lib/execution-context.ts";
import { errorFields, log } from "../../lib/logger.ts";
import {
  CONDITIONAL_HEADERS,
  ETAG_HEADER,
  jsonRequestBody,
  NOT_MODIFIED_RESPONSE,
} from "../../lib/openapi.ts";
import { requireScope } from "../auth/bearer.ts";
import { type AcmeEnv, createAcmeRouter } from "../context.ts";
import { AcmeError } from "../errors.ts";
import { acmeJsonBody } from "../json-body.ts";
import { errorResponses, V1_ERROR_STATUSES } from "../openapi-schemas.ts";
import { accessToken, securedRoute } from "../secured-route.ts";
import { publishEvents } from "../webhooks/outbox.ts";
import { checkPreconditions, readPreconditions } from "./preconditions.ts";
import { type ContactChange, ContactRepository } from "./repository.ts";
import {
  ContactCreateSchema,
  ContactGetQuerySchema,
  ContactIdParamsSchema,
  ContactListQuerySchema,
  ContactListSchema,
  ContactPatchSchema,
  ContactReplaceSchema,
  ContactSchema,
} from "./schemas.ts";

const contactResponse = (description: string) => ({
  description,
  headers: ETAG_HEADER,
  content: { "application/json": { schema: ContactSchema } },
});

const repository = (env: Env, accountId: string) => new ContactRepository(env.ACME_DB, accountId);

/**
 * After the change and its outbox row committed: hands the event to the deliveries queue once the
 * answer is on its way (`waitUntil`), so a write waits for neither the queue nor the lease update.
 * Nothing is lost if the hand-off fails or never runs: the outbox sweep hands the event when its
 * first lease (`OUTBOX_FIRST_HAND_OFF_MS`) runs out. Without an execution context it is awaited.
 */
async function announce(c: Context<AcmeEnv>, change: ContactChange): Promise<ContactChange> {
  if (!change.eventId) return change;
  const handOff = publishEvents(c.env, [change.eventId]).catch((error: unknown) =>
    log("warn", "webhook event hand-off failed; the outbox sweep will hand it", {
      eventId: change.eventId,
      ...errorFields(error),
    }),
  );
  const ctx = executionContextOf(c);
  if (ctx) ctx.waitUntil(handOff);
  else await handOff;
  return change;
}

export const contactRouter = createAcmeRouter()
  .openapi(
    securedRoute({
      method: "get",
      path: "/v1/contacts",
      tags: ["Contacts"],
      summary: "List contacts, oldest first, with cursor paging",
      security: accessToken(),
      middleware: [requireScope("contacts.read")] as const,
      request: { query: ContactListQuerySchema },
      responses: {
        200: {
          description: "A page of contacts",
          content: { "application/json": { schema: ContactListSchema } },
        },
        ...errorResponses(...V1_ERROR_STATUSES),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await repository(c.env, c.var.client.accountId).list({
        limit: query.limit,
        after: query.after,
        updatedSince: query.updated_since ? new Date(query.updated_since).toISOString() : undefined,
        email: query.email,
        includeDeleted: query.include_deleted,
      });
      return c.json(
        { results: page.results, ...(page.nextAfter ? { paging: { next: { after: page.nextAfter } } } : {}) },
        200,
      );
    },
  )
  .openapi(
    securedRoute({
      method: "post",
      path: "/v1/contacts",
      tags: ["Contacts"],
      summary: "Create a contact",
      security: accessToken(),
      middleware: [requireScope("contacts.write"), acmeJsonBody] as const,
      request: { body: jsonRequestBody(ContactCreateSchema) },
      responses: {
        201: contactResponse("Created"),
        ...errorResponses(...V1_ERROR_STATUSES, 409, 415),
      },
    }),
    async (c) => {
      const { contact } = await announce(
        c,
        await repository(c.env, c.var.client.accountId).create(c.req.valid("json")),
      );
      c.header("ETag", formatEtag(contact.acme_version));
      c.header("Location", `${c.req.path}/${contact.id}`);
      return c.json(contact, 201);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/v1/contacts/{id}",
      tags: ["Contacts"],
      summary: "Get a contact",
      security: accessToken(),
      middleware: [requireScope("contacts.read")] as const,
      request: { params: ContactIdParamsSchema, query: ContactGetQuerySchema, headers: CONDITIONAL_HEADERS },
      responses: {
        200: contactResponse("The contact"),
        304: NOT_MODIFIED_RESPONSE,
        ...errorResponses(...V1_ERROR_STATUSES, 404, 412),
      },
    }),
    async (c) => {
      const preconditions = readPreconditions(c.req.method, c.req.valid("header"));
      const contact = await repository(c.env, c.var.client.accountId).get(
        c.req.valid("param").id,
        c.req.valid("query").include_deleted,
      );
      c.header("ETag", formatEtag(contact.acme_version));
      if (checkPreconditions(preconditions, contact.acme_version) === "not_modified")
        return c.body(null, 304);
      return c.json(contact, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "put",
      path: "/v1/contacts/{id}",
      tags: ["Contacts"],
      summary: "Replace a contact (omitted optional fields become null)",
      security: accessToken(),
      middleware: [requireScope("contacts.write"), acmeJsonBody] as const,
      request: {
        params: ContactIdParamsSchema,
        headers: CONDITIONAL_HEADERS,
        body: jsonRequestBody(ContactReplaceSchema),
      },
      responses: {
        200: contactResponse("Replaced"),
        ...errorResponses(...V1_ERROR_STATUSES, 404, 409, 412, 415),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      // Read-only fields sent back from a GET are ignored; an id naming another contact is not.
      const {
        id: echoedId,
        acme_version,
        acme_created_at,
        acme_updated_at,
        acme_deleted_at,
        ...input
      } = c.req.valid("json");
      if (echoedId !== undefined && echoedId !== id) {
        throw new AcmeError("validation_failed", "The body's id is not the contact in the path.", {
          details: [{ field: "id", message: "must be the id in the path (or left out)" }],
        });
      }
      const { contact } = await announce(
        c,
        await repository(c.env, c.var.client.accountId).replace(
          id,
          input,
          readPreconditions(c.req.method, c.req.valid("header")),
        ),
      );
      c.header("ETag", formatEtag(contact.acme_version));
      return c.json(contact, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "patch",
      path: "/v1/contacts/{id}",
      tags: ["Contacts"],
      summary: "Update some fields (JSON merge patch: null clears a field)",
      security: accessToken(),
      middleware: [requireScope("contacts.write"), acmeJsonBody] as const,
      request: {
        params: ContactIdParamsSchema,
        headers: CONDITIONAL_HEADERS,
        body: jsonRequestBody(ContactPatchSchema),
      },
      responses: {
        200: contactResponse("Updated"),
        ...errorResponses(...V1_ERROR_STATUSES, 404, 409, 412, 415),
      },
    }),
    async (c) => {
      const { contact } = await announce(
        c,
        await repository(c.env, c.var.client.accountId).patch(
          c.req.valid("param").id,
          c.req.valid("json"),
          readPreconditions(c.req.method, c.req.valid("header")),
        ),
      );
      c.header("ETag", formatEtag(contact.acme_version));
      return c.json(contact, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "delete",
      path: "/v1/contacts/{id}",
      tags: ["Contacts"],
      summary: "Delete a contact (soft: it stays readable with include_deleted)",
      security: accessToken(),
      middleware: [requireScope("contacts.write")] as const,
      request: { params: ContactIdParamsSchema, headers: CONDITIONAL_HEADERS },
      responses: {
        204: { description: "Deleted" },
        ...errorResponses(...V1_ERROR_STATUSES, 404, 412),
      },
    }),
    async (c) => {
      const { contact } = await announce(
        c,
        await repository(c.env, c.var.client.accountId).softDelete(
          c.req.valid("param").id,
          readPreconditions(c.req.method, c.req.valid("header")),
        ),
      );
      c.header("ETag", formatEtag(contact.acme_version));
      return c.body(null, 204);
    },
  );
