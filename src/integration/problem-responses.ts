import { z } from "@hono/zod-openapi";
import { API_ERROR_STATUS, type ApiErrorCode, PROBLEM_CONTENT_TYPE } from "./errors.ts";

/** RFC 9457 problem details as `problemBody` renders them: the integration's one error body. */
export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    // The closed set, so the document (and the typed client) name every code a client may see.
    code: z.enum(Object.keys(API_ERROR_STATUS) as [ApiErrorCode, ...ApiErrorCode[]]),
    requestId: z.string(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    oldestAfter: z
      .number()
      .int()
      .optional()
      .openapi({
        description:
          "410 `feed_cursor_expired` only: the smallest `after` the change feed still serves. Re-read " +
          "the contacts list, then go on polling from here.",
      }),
  })
  .openapi("Problem", {
    example: {
      type: "https://acme-bridge.dev/problems/validation-failed",
      title: "Validation failed",
      status: 400,
      detail: "The request is not valid.",
      code: "validation_failed",
      requestId: "req_01jd5x8m3q0000000000000000",
      errors: [{ field: "email", message: "Invalid email address" }],
    },
  });

/** A status some ApiError code is answered with. */
export type ProblemStatus = (typeof API_ERROR_STATUS)[ApiErrorCode];

const DESCRIPTIONS: Record<ProblemStatus, string> = {
  400: "Invalid request; `errors` names each field",
  401: "Missing or invalid credentials",
  403: "Not allowed",
  404: "No such resource for this connection",
  405: "The path does not have this method; see Allow",
  410: "The change feed's entries after this cursor were pruned; `oldestAfter` says where it resumes",
  409: "Conflict with the current state (duplicate email, Idempotency-Key in flight)",
  412: "If-Match does not match the current version",
  413: "Body too large",
  415: "Body is not JSON",
  422: "Idempotency-Key reused with another body, or a field mapping names an Acme property that does not exist or is archived",
  429: "Acme's rate limit is reached; see Retry-After",
  500: "Internal error; quote the requestId",
  502: "Acme refused the connection or answered in a way the integration cannot use; `connection_needs_reauth`: Acme revoked the connection's OAuth grant, calls fail at once until a connect session for its end user repairs it",
  503: "Acme is unavailable; see Retry-After",
  504: "Acme timed out; see Retry-After",
};

/** What a route that calls Acme may answer besides its own problems. */
export const ACME_FAILURE_STATUSES = [429, 502, 503, 504] as const;

type ProblemResponse = {
  description: string;
  content: { [PROBLEM_CONTENT_TYPE]: { schema: typeof ProblemSchema } };
};

/**
 * The OpenAPI responses for these problem statuses, each `application/problem+json` with
 * ProblemSchema, for a route definition's `responses` (unkey's openApiErrorResponses, per status).
 */
export function problemResponses<const S extends ProblemStatus>(
  ...statuses: S[]
): Record<S, ProblemResponse> {
  return Object.fromEntries(
    statuses.map((status) => [
      status,
      { description: DESCRIPTIONS[status], content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } } },
    ]),
  ) as Record<S, ProblemResponse>;
}
