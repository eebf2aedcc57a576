import { z } from "@hono/zod-openapi";

export const AcmeErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "validation_failed" }),
      message: z.string(),
      details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("AcmeError", {
    example: {
      error: {
        code: "validation_failed",
        message: "The request is not valid.",
        details: [{ field: "acme_email", message: "Invalid email address" }],
      },
    },
  });

const DESCRIPTIONS: Record<number, string> = {
  400: "Invalid request (validation_failed, invalid_json, invalid_cursor, precondition_invalid)",
  401: "Missing, invalid or expired token",
  403: "Token lacks the needed scope",
  404: "No such resource in this account",
  409: "Conflict (duplicate_email, duplicate_property, property_limit_reached)",
  412: "A precondition (If-Match, If-None-Match) does not hold",
  413: "Body too large",
  415: "Body is not JSON",
  429: "Rate limited; see Retry-After",
  500: "Internal error (or an injected fault)",
  502: "Injected fault",
  503: "Injected fault",
  504: "Injected fault or timeout",
};

/** Error responses in Acme's format, one entry per status, for a route definition. */
export function errorResponses<const S extends number>(...statuses: S[]) {
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      {
        description: DESCRIPTIONS[s] ?? "Error",
        content: { "application/json": { schema: AcmeErrorSchema } },
      },
    ]),
  ) as Record<
    S,
    { description: string; content: { "application/json": { schema: typeof AcmeErrorSchema } } }
  >;
}

/**
 * What every route under /v1 can answer besides its own errors: a malformed X-Acme-Fault or a
 * query that is not UTF-8 (400),
 * the token (401) and its scope (403), the body limit (413), rate limits (429) and, where fault
 * injection is enabled, injected failures (5xx).
 */
export const V1_ERROR_STATUSES = [400, 401, 403, 413, 429, 500, 502, 503, 504] as const;

/**
 * What every admin route can answer besides its own errors: a query that is not UTF-8 (400), the
 * admin token (401) and the body limit (413).
 */
export const ADMIN_ERROR_STATUSES = [400, 401, 413] as const;

/** What a public route (no credentials) can answer: a query that is not UTF-8, the body limit. */
export const PUBLIC_ERROR_STATUSES = [400, 413] as const;
