import { z } from "@hono/zod-openapi";
import { ENTITY_TAG_CONDITION } from "./etag.ts";

// OpenAPI pieces both systems' routes describe the same way.

/** A required JSON request body with this schema. */
export function jsonRequestBody<T>(schema: T) {
  return { required: true, content: { "application/json": { schema } } };
}

/** A JSON response with this schema. */
export function jsonResponse<T>(description: string, schema: T) {
  return { description, content: { "application/json": { schema } } };
}

/** The `ETag` response header carrying a record's version. */
export const ETAG_HEADER = {
  ETag: { schema: { type: "string" as const }, description: 'The version, e.g. "3"' },
};

/** A conditional field's schema: its grammar as the server reads it, and an example. */
const entityTagCondition = (description: string) =>
  z.string().optional().openapi({ description, pattern: ENTITY_TAG_CONDITION.source, example: '"3"' });

/**
 * The optional conditional request headers (RFC 9110 13.1.1, 13.1.2) of routes honouring both.
 * A value outside the pattern is refused with 400 `precondition_invalid` naming the field.
 */
export const CONDITIONAL_HEADERS = z.object({
  "if-match": entityTagCondition(
    'Proceed only if one listed ETag matches the current one strongly (weak tags never do), or "*"; ' +
      'else 412. "*" or a list of entity tags such as "3", W/"2" (blank: no condition)',
  ),
  "if-none-match": entityTagCondition(
    'Proceed only if no listed ETag matches the current one (weak comparison) and, for "*", none exists; ' +
      'else 304 on GET, 412 on writes. "*" or a list of entity tags (blank: no condition)',
  ),
});

/** 304 Not Modified: no body, and the current `ETag`. */
export const NOT_MODIFIED_RESPONSE = {
  description: "Not modified: If-None-Match lists the current ETag",
  headers: ETAG_HEADER,
};

/** The document's own route, listed in it like any other, so served and documented routes are one set. */
export const OPENAPI_DOCUMENT_ROUTE = {
  method: "get" as const,
  tags: ["Documentation"],
  summary: "This OpenAPI 3.1 document",
  responses: {
    200: jsonResponse(
      "The document",
      z.looseObject({ openapi: z.string().openapi({ example: "3.1.0" }) }).openapi({ type: "object" }),
    ),
  },
};
