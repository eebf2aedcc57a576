import type { FieldError } from "../lib/validation.ts";

/** The integration's closed set of problem codes, each with its one status. */
export const API_ERROR_STATUS = {
  invalid_json: 400,
  validation_failed: 400,
  invalid_cursor: 400,
  precondition_invalid: 400,
  unauthorized: 401,
  invalid_signature: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  feed_cursor_expired: 410,
  duplicate_email: 409,
  conflict: 409,
  idempotency_key_in_flight: 409,
  version_mismatch: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  unknown_remote_field: 422,
  acme_rate_limited: 429,
  internal_error: 500,
  acme_auth_failed: 502,
  acme_bad_response: 502,
  connection_needs_reauth: 502,
  acme_unavailable: 503,
  acme_timeout: 504,
} as const;

export type ApiErrorCode = keyof typeof API_ERROR_STATUS;

const TITLES: Record<ApiErrorCode, string> = {
  invalid_json: "Malformed JSON",
  validation_failed: "Validation failed",
  invalid_cursor: "Invalid cursor",
  precondition_invalid: "Invalid precondition",
  unauthorized: "Unauthorized",
  invalid_signature: "Invalid webhook signature",
  forbidden: "Forbidden",
  not_found: "Not found",
  method_not_allowed: "Method not allowed",
  feed_cursor_expired: "Feed cursor expired",
  duplicate_email: "Duplicate email",
  conflict: "Conflict",
  idempotency_key_in_flight: "Request with this Idempotency-Key in progress",
  version_mismatch: "Version mismatch",
  payload_too_large: "Payload too large",
  unsupported_media_type: "Unsupported media type",
  idempotency_key_reused: "Idempotency-Key reused with another request",
  unknown_remote_field: "No such Acme property",
  acme_rate_limited: "Acme rate limit reached",
  internal_error: "Internal error",
  acme_auth_failed: "Acme rejected the connection's credentials",
  acme_bad_response: "Acme sent an unusable response",
  connection_needs_reauth: "The connection must be reconnected",
  acme_unavailable: "Acme is unavailable",
  acme_timeout: "Acme timed out",
};

export class ApiError extends Error {
  readonly status: (typeof API_ERROR_STATUS)[ApiErrorCode];

  constructor(
    readonly code: ApiErrorCode,
    detail: string,
    readonly options: {
      errors?: FieldError[];
      headers?: Record<string, string>;
      /**
       * When to try again, ms, before rounding to Retry-After's whole seconds: background work
       * that sleeps on it (sync jobs) wakes when the slot opens, not up to a second later.
       */
      retryAfterMs?: number;
      /** The smallest `after` the change feed still serves (410 `feed_cursor_expired`). */
      oldestAfter?: number;
    } = {},
  ) {
    super(detail);
    this.name = "ApiError";
    this.status = API_ERROR_STATUS[code];
  }
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** RFC 9457 problem details, with our stable `code` and the request id for support. */
export function problemBody(error: ApiError, requestId: string) {
  return {
    type: `https://acme-bridge.dev/problems/${error.code.replace(/_/g, "-")}`,
    title: TITLES[error.code],
    status: error.status,
    detail: error.message,
    code: error.code,
    requestId,
    ...(error.options.errors ? { errors: error.options.errors } : {}),
    ...(error.options.oldestAfter !== undefined ? { oldestAfter: error.options.oldestAfter } : {}),
  };
}
