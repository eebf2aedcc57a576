import type { FieldError } from "../../lib/validation.ts";
import { ApiError } from "../errors.ts";

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

/**
 * Turns an Acme error response into the caller's problem: 400/404/409/412 keep their status with
 * field names mapped back to the API's; everything else says what went wrong upstream.
 */
export function acmeProblem(
  status: number,
  body: unknown,
  headers: Headers,
  renameField: (field: string) => string,
): ApiError {
  const error = (body as AcmeErrorBody | null)?.error;
  const errors = error?.details?.map((d) => ({ field: renameField(d.field), message: d.message }));
  const acmeCode = error?.code;
  if (status === 400 && acmeCode === "precondition_invalid") {
    return new ApiError("precondition_invalid", error?.message ?? "Invalid If-Match.");
  }
  if (status in PASSTHROUGH) {
    const code = PASSTHROUGH[status as keyof typeof PASSTHROUGH];
    const detail =
      code === "validation_failed"
        ? "Acme rejected the contact."
        : code === "not_found"
          ? "The contact does not exist."
          : code === "duplicate_email"
            ? "A contact with this email already exists."
            : "The contact has changed since the version given in If-Match.";
    return new ApiError(code, detail, errors?.length ? { errors } : {});
  }
  const retryAfter = headers.get("retry-after");
  const retryHeaders: Record<string, string> = retryAfter ? { "Retry-After": retryAfter } : {};
  if (status === 429) {
    return new ApiError("acme_rate_limited", "Acme's rate limit for this connection is reached.", {
      headers: { "Retry-After": retryAfter ?? "1" },
    });
  }
  if (status === 401 || status === 403) {
    return new ApiError("acme_auth_failed", "Acme rejected this connection's credentials or scopes.");
  }
  if (status === 504) return new ApiError("acme_timeout", "Acme timed out.", { headers: retryHeaders });
  if (status >= 500) {
    return new ApiError("acme_unavailable", "Acme is unavailable.", {
      headers: { "Retry-After": retryAfter ?? "1" },
    });
  }
  return new ApiError("acme_bad_response", `Acme answered with an unexpected status ${status}.`);
}
