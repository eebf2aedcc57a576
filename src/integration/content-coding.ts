import type { MiddlewareHandler } from "hono";
import { ACCEPTED_REQUEST_ENCODING, identityBodyOf } from "../lib/content-coding.ts";
import type { IntegrationEnv } from "./context.ts";
import { ApiError } from "./errors.ts";

/** 415 `unsupported_media_type` with `Accept-Encoding: identity`, for a body sent with `codings`. */
export function codedBodyError(codings: string[]): ApiError {
  return new ApiError(
    "unsupported_media_type",
    `Content-Encoding ${codings.join(", ")} is not accepted; send the body uncompressed.`,
    { headers: { "Accept-Encoding": ACCEPTED_REQUEST_ENCODING } },
  );
}

/**
 * For a route that reads its body as it is (not through the JSON body check, which refuses a
 * coded body itself): 415 for a body sent with a content coding.
 */
export function identityBody(): MiddlewareHandler<IntegrationEnv> {
  return identityBodyOf<IntegrationEnv>(codedBodyError);
}
