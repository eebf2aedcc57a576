import type { MiddlewareHandler } from "hono";
import {
  BROKEN_OFF_MESSAGE,
  bodyLimitOf,
  ILL_FORMED_QUERY_MESSAGE,
  wellFormedQueryOf,
} from "../lib/request-limits.ts";
import type { AcmeEnv } from "./context.ts";
import { AcmeError } from "./errors.ts";

/**
 * 413 `payload_too_large` for a body over ACME_MAX_BODY_BYTES on every route, before any other
 * check. A declared Content-Length decides at once; a body without one is read up to the limit. A
 * body that breaks off (the client went, bad chunked encoding) is 400 `validation_failed`.
 */
export function acmeBodyLimit(): MiddlewareHandler<AcmeEnv> {
  return bodyLimitOf<AcmeEnv>((c) => c.var.config.maxBodyBytes, {
    tooLarge: (max) => new AcmeError("payload_too_large", `The body exceeds ${max} bytes.`),
    brokenOff: () => new AcmeError("validation_failed", BROKEN_OFF_MESSAGE),
  });
}

/** 400 naming the query parameter whose name or value is not valid percent-encoded UTF-8. */
export function wellFormedQuery(): MiddlewareHandler<AcmeEnv> {
  return wellFormedQueryOf<AcmeEnv>(
    (name) =>
      new AcmeError("validation_failed", `Query parameter ${name} is not valid UTF-8 text.`, {
        details: [{ field: name, message: ILL_FORMED_QUERY_MESSAGE }],
      }),
  );
}
