import type { FieldError } from "../../lib/validation.ts";
import { ApiError } from "../errors.ts";

// Every problem the integration raises about Acme is made here, from one of two things: Acme's
// answer with an error status (acmeProblem), or a call that got no usable answer before it
// stopped trying (callProblem). The token endpoint's problems say so in their detail.

/** Which of Acme's endpoints a problem is about. */
export type AcmeEndpoint = "api" | "token";

/** Why a call has no answer to pass on: the reason it stopped, and when to come back (ms). */
export interface CallFailure {
  reason: "rate_limited" | "unavailable" | "timeout" | "circuit_open";
  retryAfterMs: number | null;
}

interface AcmeErrorBody {
  error?: { code?: string; message?: string; details?: FieldError[] };
}

/** Acme error codes whose meaning passes through to the caller unchanged. */
const PASSTHROUGH = {
  400: "validation_failed",
  404: "not_found",
  409: "duplicate_email",
  412: "version_mismatch",
} as const;

const PASSTHROUGH_DETAIL: Record<(typeof PASSTHROUGH)[keyof typeof PASSTHROUGH], string> = {
  validation_failed: "Acme rejected the contact.",
  not_found: "The contact does not exist.",
  duplicate_email: "A contact with this email already exists.",
  version_mismatch: "The contact has changed since the version given in If-Match.",
};

const DETAIL = {
  api: {
    rateLimited: "Acme's rate limit for this connection is reached.",
    unavailable: "Acme is unavailable.",
    unreachable: "Acme is unavailable.",
    authFailed: "Acme rejected this connection's credentials or scopes.",
    unexpected: (status: number) => `Acme answered with an unexpected status ${status}.`,
  },
  token: {
    rateLimited: "Acme's token endpoint is rate limiting this connection.",
    unavailable: "Acme's token endpoint is unavailable.",
    unreachable: "Acme's token endpoint could not be reached.",
    authFailed: "Acme refused this connection's client credentials.",
    unexpected: (status: number) => `Acme's token endpoint answered ${status}.`,
  },
} as const;

/** Whole seconds for a Retry-After header, at least 1. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}

/**
 * Acme's answer with an error status, as the caller's problem: 400/404/409/412 keep their
 * status with field names renamed to the API's; 429 and 5xx carry Acme's Retry-After (1 s
 * without one); anything else says what went wrong upstream. Acme's own message never passes.
 */
export function acmeProblem(
  status: number,
  body: unknown,
  headers: Headers,
  renameField: (field: string) => string = (field) => field,
  endpoint: AcmeEndpoint = "api",
): ApiError {
  const detail = DETAIL[endpoint];
  const retryAfter = headers.get("retry-after");
  if (status === 429) {
    return new ApiError("acme_rate_limited", detail.rateLimited, {
      headers: { "Retry-After": retryAfter ?? "1" },
    });
  }
  if (endpoint === "token") {
    if (status === 400 || status === 401) return new ApiError("acme_auth_failed", detail.authFailed);
  } else {
    const error = (body as AcmeErrorBody | null)?.error;
    if (status === 400 && error?.code === "precondition_invalid") {
      return new ApiError("precondition_invalid", error.message ?? "Invalid If-Match.");
    }
    if (status in PASSTHROUGH) {
      const code = PASSTHROUGH[status as keyof typeof PASSTHROUGH];
      const errors = error?.details?.map((d) => ({ field: renameField(d.field), message: d.message }));
      return new ApiError(code, PASSTHROUGH_DETAIL[code], errors?.length ? { errors } : {});
    }
    if (status === 401 || status === 403) return new ApiError("acme_auth_failed", detail.authFailed);
    if (status === 504) {
      return new ApiError(
        "acme_timeout",
        "Acme timed out.",
        retryAfter ? { headers: { "Retry-After": retryAfter } } : {},
      );
    }
  }
  if (status >= 500) {
    return new ApiError("acme_unavailable", detail.unavailable, {
      headers: { "Retry-After": retryAfter ?? "1" },
    });
  }
  return new ApiError("acme_bad_response", detail.unexpected(status));
}

/**
 * A call that stopped without an answer to pass on: refused by the session (rate slot, open
 * circuit) or given up after retries (Acme's 429, its 5xx or no connection, no answer in time).
 * Retry-After is when to come back, 1 s if nobody said.
 */
export function callProblem(failure: CallFailure, endpoint: AcmeEndpoint = "api"): ApiError {
  const headers = { "Retry-After": retryAfterSeconds(failure.retryAfterMs ?? 1000) };
  switch (failure.reason) {
    case "rate_limited":
      return new ApiError("acme_rate_limited", DETAIL[endpoint].rateLimited, { headers });
    case "unavailable":
      return new ApiError("acme_unavailable", DETAIL[endpoint].unreachable, { headers });
    case "timeout":
      return new ApiError("acme_timeout", "Acme did not answer in time.", { headers });
    case "circuit_open":
      return new ApiError("acme_unavailable", "Acme is failing for this connection; calls are paused.", {
        headers,
      });
  }
}
