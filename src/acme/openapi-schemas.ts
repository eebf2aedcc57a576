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
