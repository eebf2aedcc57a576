import type { Context, Env, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { illFormedQueryParameter } from "./unicode-text.ts";

/**
 * Refuses a body over `maxSize(c)` bytes before any other check (auth, media type, parsing),
 * throwing `tooLarge(maxSize)` (each system's 413). A declared Content-Length decides at once; a
 * body without one is read up to the limit (hono's `bodyLimit`).
 */
export function bodyLimitOf<E extends Env>(
  maxSize: (c: Context<E>) => number,
  tooLarge: (maxSize: number) => Error,
): MiddlewareHandler<E> {
  return async function bodyLimitMiddleware(c, next) {
    const max = maxSize(c);
    return bodyLimit({
      maxSize: max,
      onError: () => {
        throw tooLarge(max);
      },
    })(c, next);
  };
}

/**
 * Refuses a request whose query has a parameter name or value that is not valid percent-encoded
 * UTF-8, throwing `invalid(name)` (each system's 400 naming the parameter).
 */
export function wellFormedQueryOf<E extends Env>(invalid: (name: string) => Error): MiddlewareHandler<E> {
  return async function wellFormedQueryMiddleware(c, next) {
    const name = illFormedQueryParameter(c.req.url);
    if (name !== null) throw invalid(name);
    await next();
  };
}

/** What both systems say of an ill-formed query parameter. */
export const ILL_FORMED_QUERY_MESSAGE = "must be percent-encoded UTF-8 (valid Unicode text)";
