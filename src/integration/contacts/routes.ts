import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { sha256Hex } from "../../lib/crypto.ts";
import { formatEtag, parseIfMatch } from "../../lib/etag.ts";
import { ETAG_HEADER, IF_MATCH_HEADERS, jsonRequestBody } from "../../lib/openapi.ts";
import { acmeClientFor } from "../acme-client/for-request.ts";
import { ContactCache } from "../cache/contact-cache.ts";
import { createRouter, type IntegrationEnv } from "../context.ts";
import { ApiError, PROBLEM_CONTENT_TYPE, problemBody } from "../errors.ts";
import { canonicalJson, IdempotencyStore } from "../idempotency/idempotency-store.ts";
import { integrationJsonBody } from "../json-body.ts";
import { ContactService } from "./contact-service.ts";
import {
  type Contact,
  ContactCreateSchema,
  ContactIdParamsSchema,
  ContactListQuerySchema,
  ContactListSchema,
  ContactPatchSchema,
  ContactReplaceSchema,
  ContactSchema,
  ProblemSchema,
} from "./schemas.ts";

const security = [{ ApiKey: [] }];
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ProblemSchema } },
});
const common = {
  400: problem("Invalid request; `errors` names each field"),
  401: problem("Missing or invalid API key"),
  429: problem("Acme's rate limit is reached; see Retry-After"),
  502: problem("Acme answered in a way the integration cannot use"),
  503: problem("Acme is unavailable; see Retry-After"),
  504: problem("Acme timed out"),
};
const contactResponse = (description: string) => ({
  description,
  headers: ETAG_HEADER,
  content: { "application/json": { schema: ContactSchema } },
});

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

function contacts(c: Context<IntegrationEnv>): ContactService {
  const { config, connection, stats } = c.var;
  return new ContactService(
    () => acmeClientFor(c),
    new ContactCache(c.env.CACHE, connection.id, config.cacheTtlSeconds),
    stats,
    {
      recordStaleFallback: () =>
        c.env.ACME_SESSION.get(c.env.ACME_SESSION.idFromName(connection.id)).recordStaleFallback(),
    },
  );
}

function withEtag(c: Context<IntegrationEnv>, contact: Contact) {
  c.header("ETag", formatEtag(contact.version));
  return contact;
}

/** Runs a create under its Idempotency-Key: replays, refuses (409/422), or records the outcome. */
async function idempotentCreate<R extends Response>(
  c: Context<IntegrationEnv>,
  create: () => Promise<R>,
): Promise<R> {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return create();
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new ApiError("validation_failed", "Idempotency-Key must be 1-255 visible ASCII characters.", {
      errors: [{ field: "Idempotency-Key", message: "1-255 visible ASCII characters" }],
    });
  }
  const store = new IdempotencyStore(c.env.DB, c.var.connection.id, c.var.config.idempotencyTtlSeconds);
  const requestHash = await sha256Hex(`contacts.create\n${canonicalJson(JSON.parse(c.var.rawBody))}`);
  const start = await store.start(key, requestHash);
  if (start.kind === "replay") {
    // The stored copy of the first (typed) response, sent through the context so it carries this
    // request's X-Request-Id; a replayed problem names this request too, as every problem does.
    const { status, headers, body } = start.response;
    for (const [name, value] of Object.entries(headers)) c.header(name, value);
    c.header("Idempotent-Replayed", "true");
    const replayed =
      headers["content-type"] === PROBLEM_CONTENT_TYPE
        ? JSON.stringify({ ...(JSON.parse(body) as object), requestId: c.var.requestId })
        : body;
    return c.body(replayed, status as ContentfulStatusCode) as unknown as R;
  }
  if (start.kind === "mismatch") {
    throw new ApiError(
      "idempotency_key_reused",
      "This Idempotency-Key was used with a different request body.",
    );
  }
  if (start.kind === "in_flight") {
    throw new ApiError(
      "idempotency_key_in_flight",
      "A request with this Idempotency-Key is still in progress.",
      {
        headers: { "Retry-After": "1" },
      },
    );
  }
  let response: R;
  try {
    response = await create();
  } catch (error) {
    // Final answers (validation, duplicates) are replayed like successes; failures worth
    // retrying (429, 5xx, unknown errors) free the key so the retry really runs.
    if (error instanceof ApiError && error.status < 429) {
      await store.complete(key, {
        status: error.status,
        headers: { "content-type": PROBLEM_CONTENT_TYPE },
        body: JSON.stringify(problemBody(error, c.var.requestId)),
      });
    } else {
      await store.release(key);
    }
    throw error;
  }
  const headers: Record<string, string> = {};
  for (const name of ["content-type", "etag", "location"]) {
    const value = response.headers.get(name);
    if (value) headers[name] = value;
  }
  await store.complete(key, { status: response.status, headers, body: await response.clone().text() });
  return response;
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
        ...common,
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const page = await contacts(c).list({
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
      middleware: [integrationJsonBody] as const,
      request: {
        headers: z.object({ "idempotency-key": z.string().optional() }),
        body: jsonRequestBody(ContactCreateSchema),
      },
      responses: {
        201: contactResponse("Created"),
        ...common,
        409: problem("Duplicate email, or the Idempotency-Key is in flight"),
        413: problem("Body too large"),
        415: problem("Body is not JSON"),
        422: problem("Idempotency-Key reused with another body"),
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      return idempotentCreate(c, async () => {
        const contact = await contacts(c).create(input);
        c.header("Location", `${c.req.path}/${contact.id}`);
        return c.json(withEtag(c, contact), 201);
      });
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
        ...common,
        404: problem("No such contact"),
      },
    }),
    async (c) => {
      const revalidate = /(?:^|,)\s*no-cache\s*(?:,|$)/i.test(c.req.header("cache-control") ?? "");
      const { contact, staleAgeSeconds } = await contacts(c).get(c.req.valid("param").id, revalidate);
      c.header("X-Cache", c.var.stats.cache ?? "MISS");
      // A stale copy (Acme failing) says how old it is, as RFC 9111's Age does.
      if (staleAgeSeconds !== undefined) c.header("Age", String(staleAgeSeconds));
      return c.json(withEtag(c, contact), 200);
    },
  )
  .openapi(
    createRoute({
      method: "put",
      path: "/contacts/{id}",
      tags: ["Contacts"],
      summary: "Replace a contact (omitted optional fields become null)",
      security,
      middleware: [integrationJsonBody] as const,
      request: {
        params: ContactIdParamsSchema,
        headers: IF_MATCH_HEADERS,
        body: jsonRequestBody(ContactReplaceSchema),
      },
      responses: {
        200: contactResponse("Replaced"),
        ...common,
        404: problem("No such contact"),
        409: problem("Duplicate email"),
        412: problem("If-Match does not match"),
        413: problem("Body too large"),
        415: problem("Body is not JSON"),
      },
    }),
    async (c) => {
      const contact = await contacts(c).replace(
        c.req.valid("param").id,
        c.req.valid("json"),
        parseIfMatch(c.req.header("if-match")),
      );
      return c.json(withEtag(c, contact), 200);
    },
  )
  .openapi(
    createRoute({
      method: "patch",
      path: "/contacts/{id}",
      tags: ["Contacts"],
      summary: "Update some fields (merge patch: null clears an optional field)",
      security,
      middleware: [integrationJsonBody] as const,
      request: {
        params: ContactIdParamsSchema,
        headers: IF_MATCH_HEADERS,
        body: jsonRequestBody(ContactPatchSchema),
      },
      responses: {
        200: contactResponse("Updated"),
        ...common,
        404: problem("No such contact"),
        409: problem("Duplicate email"),
        412: problem("If-Match does not match"),
        413: problem("Body too large"),
        415: problem("Body is not JSON"),
      },
    }),
    async (c) => {
      const contact = await contacts(c).patch(
        c.req.valid("param").id,
        c.req.valid("json"),
        parseIfMatch(c.req.header("if-match")),
      );
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
        ...common,
        404: problem("No such contact"),
        412: problem("If-Match does not match"),
      },
    }),
    async (c) => {
      await contacts(c).remove(c.req.valid("param").id, parseIfMatch(c.req.header("if-match")));
      return c.body(null, 204);
    },
  );
