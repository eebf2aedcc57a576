import type { MiddlewareHandler } from "hono";
import { ACCEPTED_REQUEST_ENCODING, identityBodyOf } from "../lib/content-coding.ts";
import type { IntegrationEnv } from "./context.ts";
import { ApiError } from "./errors.ts";

/** 415 `unsupported_media_type` with `Accept-Encoding: identity` for a body sent with a content coding. */
export function identityBody(): MiddlewareHandler<IntegrationEnv> {
  return identityBodyOf<IntegrationEnv>(
    (codings) =>
      new ApiError(
        "unsupported_media_type",
        `Content-Encoding ${codings.join(", ")} is not accepted; send the body uncompressed.`,
        { headers: { "Accept-Encoding": ACCEPTED_REQUEST_ENCODING } },
      ),
  );
}
