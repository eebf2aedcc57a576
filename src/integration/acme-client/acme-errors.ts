import { parseRetryAfter } from "../../lib/backoff.ts";
import type { FieldError } from "../../lib/validation.ts";
import { ApiError } from "../errors.ts";
import type { AcmeResponse } from "./transport.ts";

// Every problem the integration raises about Acme is made here, from one of two things: Acme's
// answer with an error status (acmeProblem), or a call that got no usable answer before it
// stopped trying (callProblem). The token endpoint's problems say so in their detail.

/** Which of Acme's endpoints a problem is about. */
export type AcmeEndpoint = "api" | "token";

/** Why a call has no answer to pass on: the reason it stopped, and when to come back (ms). */
export interface CallFailure {
  /** `learning`: the session was still learning Acme's quota when the deadline ran short. */
  reason: "rate_limited" | "learning" | "unavailable" | "timeout" | "circuit_open" | "needs_reauth";
  retryAfterMs: number | null;
}

interface AcmeErrorBody {
  error?: { code?: string; details?: unknown };
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

/** The problems that mean "Acme cannot answer now": they pass, so a cached copy or a later try beats failing. */
const ACME_UNAVAILABLE_CODES: ReadonlySet<string> = new Set([
  "acme_unavailable",
  "acme_timeout",
  "acme_rate_limited",
]);

/** True when `error` says Acme is unavailable for now: 5xx or unreachable, timed out, or rate limiting. */
export function isAcmeUnavailable(error: unknown): error is ApiError {
  return error instanceof ApiError && ACME_UNAVAILABLE_CODES.has(error.code);
}

/** The longest wait a Retry-After from here ever names, s: an upstream value beyond it is capped. */
export const MAX_RETRY_AFTER_SECONDS = 86_400;

/** Whole seconds for a Retry-After header (RFC 9110 10.2.3 delay-seconds): at least 1, at most a day. */
export function retryAfterSeconds(ms: number): string {
  return String(Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(1, Math.ceil(ms / 1000))));
}

/**
 * Acme's Retry-After (seconds or an HTTP date) as this API's own: whole seconds, at least 1; a
 * value that is neither (say "soon") is not passed on, the 1 s fallback is.
 */
export function retryAfterFromAcme(headers: Headers, now = Date.now()): { "Retry-After": string } {
  return { "Retry-After": retryAfterSeconds(parseRetryAfter(headers.get("retry-after"), now) ?? 1000) };
}

/** Acme's field errors, kept only where they are what they claim (strings, bounded), names renamed. */
function fieldErrorsFromAcme(details: unknown, renameField: (field: string) => string): FieldError[] {
  if (!Array.isArray(details)) return [];
  return details
    .filter(
      (d): d is FieldError =>
        typeof d?.field === "string" && typeof d?.message === "string" && d.field.length <= 200,
    )
    .slice(0, 100)
    .map((d) => ({ field: renameField(d.field), message: d.message.slice(0, 500) }));
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
  if (status === 429) {
    return new ApiError("acme_rate_limited", detail.rateLimited, { headers: retryAfterFromAcme(headers) });
  }
  if (endpoint === "token") {
    if (status === 400 || status === 401) return new ApiError("acme_auth_failed", detail.authFailed);
  } else {
    const error = (body as AcmeErrorBody | null)?.error;
    if (status === 400 && error?.code === "precondition_invalid") {
      return new ApiError("precondition_invalid", "If-Match or If-None-Match is malformed.");
    }
    if (status in PASSTHROUGH) {
      const code = PASSTHROUGH[status as keyof typeof PASSTHROUGH];
      const errors = fieldErrorsFromAcme(error?.details, renameField);
      return new ApiError(code, PASSTHROUGH_DETAIL[code], errors.length ? { errors } : {});
    }
    if (status === 401 || status === 403) return new ApiError("acme_auth_failed", detail.authFailed);
    if (status === 504) {
      return new ApiError("acme_timeout", "Acme timed out.", { headers: retryAfterFromAcme(headers) });
    }
  }
  if (status >= 500) {
    return new ApiError("acme_unavailable", detail.unavailable, { headers: retryAfterFromAcme(headers) });
  }
  return new ApiError("acme_bad_response", detail.unexpected(status));
}

/**
 * `response` when its status is one of `ok`; otherwise Acme's error answer thrown as the
 * caller's problem (acmeProblem, field names passed through `renameField`).
 */
export function expectAcmeStatus(
  response: AcmeResponse,
  ok: readonly number[],
  renameField?: (field: string) => string,
): AcmeResponse {
  if (ok.includes(response.status)) return response;
  throw acmeProblem(response.status, response.body, response.headers, renameField);
}

/**
 * 502 `connection_needs_reauth`: Acme refused the connection's OAuth grant (revoked, or a refresh
 * token presented twice), so no call is made until a connect session for its end user repairs it.
 */
export function needsReauthProblem(): ApiError {
  return new ApiError(
    "connection_needs_reauth",
    "Acme revoked this connection's authorization; it needs to be reconnected (a new connect session for its end user repairs it).",
  );
}

/**
 * A call that stopped without an answer to pass on: refused by the session (rate slot, open
 * circuit) or given up after retries (Acme's 429, its 5xx or no connection, no answer in time).
 * Retry-After is when to come back, 1 s if nobody said.
 */
export function callProblem(failure: CallFailure, endpoint: AcmeEndpoint = "api"): ApiError {
  const retryAfterMs = Math.max(1, failure.retryAfterMs ?? 1000);
  const options = { headers: { "Retry-After": retryAfterSeconds(retryAfterMs) }, retryAfterMs };
  switch (failure.reason) {
    case "rate_limited":
    case "learning":
      return new ApiError("acme_rate_limited", DETAIL[endpoint].rateLimited, options);
    case "unavailable":
      return new ApiError("acme_unavailable", DETAIL[endpoint].unreachable, options);
    case "timeout":
      return new ApiError("acme_timeout", "Acme did not answer in time.", options);
    case "circuit_open":
      return new ApiError(
        "acme_unavailable",
        "Acme is failing for this connection; calls are paused.",
        options,
      );
    case "needs_reauth":
      return needsReauthProblem();
  }
}
