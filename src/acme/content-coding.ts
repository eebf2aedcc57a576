import type { MiddlewareHandler } from "hono";
import { ACCEPTED_REQUEST_ENCODING, identityBodyOf } from "../lib/content-coding.ts";
import type { AcmeEnv } from "./context.ts";
import { AcmeError } from "./errors.ts";

/** 415 `unsupported_media_type` with `Accept-Encoding: identity` for a body sent with a content coding. */
export function identityBody(): MiddlewareHandler<AcmeEnv> {
  return identityBodyOf<AcmeEnv>(
    (codings) =>
      new AcmeError(
        "unsupported_media_type",
        `Content-Encoding ${codings.join(", ")} is not accepted; send the body uncompressed.`,
        { headers: { "Accept-Encoding": ACCEPTED_REQUEST_ENCODING } },
      ),
  );
}
