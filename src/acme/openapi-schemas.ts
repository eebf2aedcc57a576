import { z } from "@hono/zod-openapi";

export const AcmeErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "validation_failed" }),
      message: z.string(),
      details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("AcmeError");

export function errorResponses<const S extends number>(...statuses: S[]) {
  const descriptions: Record<number, string> = {
    400: "Invalid request (validation_failed, invalid_json, invalid_cursor)",
    401: "Missing, invalid or expired access token",
    403: "Token lacks the needed scope",
    404: "No such resource in this account",
    409: "Conflict (duplicate_email)",
    412: "If-Match does not match the current version",
    413: "Body too large",
    415: "Body is not JSON",
    429: "Rate limited; see Retry-After",
    500: "Internal error, or a fault injected (X-Acme-Fault or the fault profile, where faults are enabled)",
    502: "A fault injected (X-Acme-Fault or the fault profile, where faults are enabled)",
    503: "Unavailable: a fault injected (X-Acme-Fault or the fault profile, where faults are enabled)",
    504: "Timed out: a fault injected (X-Acme-Fault or the fault profile, where faults are enabled)",
  };
  return Object.fromEntries(
    statuses.map((s) => [
      s,
      {
        description: descriptions[s] ?? "Error",
        content: { "application/json": { schema: AcmeErrorSchema } },
      },
    ]),
  ) as Record<
    S,
    { description: string; content: { "application/json": { schema: typeof AcmeErrorSchema } } }
  >;
}

/** The statuses fault injection can answer with, declared on every route it covers (/v1/*, the token endpoint). */
export const INJECTED_FAULT_STATUSES = [500, 502, 503, 504] as const;

/** Error responses of a route behind fault injection: the route's own plus the injected ones. */
export function faultableErrorResponses<const S extends number>(...statuses: S[]) {
  return errorResponses<S | (typeof INJECTED_FAULT_STATUSES)[number]>(
    ...statuses,
    ...INJECTED_FAULT_STATUSES,
  );
}
