import type { FieldError } from "../lib/validation.ts";

/** Acme's closed set of error codes and the status each one always has. */
export const ACME_ERROR_STATUS = {
  invalid_json: 400,
  invalid_cursor: 400,
  validation_failed: 400,
  unauthorized: 401,
  invalid_token: 401,
  insufficient_scope: 403,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  duplicate_email: 409,
  duplicate_property: 409,
  property_limit_reached: 409,
  conflict: 409,
  version_mismatch: 412,
  precondition_invalid: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal_error: 500,
  bad_gateway: 502,
  service_unavailable: 503,
  gateway_timeout: 504,
} as const;

export type AcmeErrorCode = keyof typeof ACME_ERROR_STATUS;

export class AcmeError extends Error {
  readonly status: (typeof ACME_ERROR_STATUS)[AcmeErrorCode];

  constructor(
    readonly code: AcmeErrorCode,
    message: string,
    readonly options: { details?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = "AcmeError";
    this.status = ACME_ERROR_STATUS[code];
  }
}

/** RFC 6749 section 5.2 error codes, used by the token endpoint only. */
export type OAuthErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "unauthorized_client"
  | "unsupported_grant_type"
  | "invalid_scope";

export class OAuthError extends Error {
  constructor(
    readonly code: OAuthErrorCode,
    readonly description: string,
    readonly status: 400 | 401 | 413 = code === "invalid_client" ? 401 : 400,
    readonly headers: Record<string, string> = {},
  ) {
    super(description);
    this.name = "OAuthError";
  }
}

export function acmeErrorBody(error: AcmeError) {
  return {
    error: {
      code: error.code,
      message: error.message,
      ...(error.options.details ? { details: error.options.details } : {}),
    },
  };
}
