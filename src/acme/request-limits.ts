import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { illFormedQueryParameter } from "../lib/unicode-text.ts";
import type { AcmeEnv } from "./context.ts";
import { AcmeError } from "./errors.ts";

/**
 * 413 `payload_too_large` for a body over ACME_MAX_BODY_BYTES on every route, before any other
 * check. A declared Content-Length decides at once; a body without one is read up to the limit.
 */
export function acmeBodyLimit(): MiddlewareHandler<AcmeEnv> {
  return async function acmeBodyLimitMiddleware(c, next) {
    const maxSize = c.var.config.maxBodyBytes;
    const limit = bodyLimit({
      maxSize,
      onError: () => {
        throw new AcmeError("payload_too_large", `The body exceeds ${maxSize} bytes.`);
      },
    });
    return limit(c, next);
  };
}

/** 400 naming the query parameter whose name or value is not valid percent-encoded UTF-8. */
export function wellFormedQuery(): MiddlewareHandler<AcmeEnv> {
  return async function wellFormedQueryMiddleware(c, next) {
    const name = illFormedQueryParameter(c.req.url);
    if (name !== null) {
      throw new AcmeError("validation_failed", `Query parameter ${name} is not valid UTF-8 text.`, {
        details: [{ field: name, message: "must be percent-encoded UTF-8 (valid Unicode text)" }],
      });
    }
    await next();
  };
}
