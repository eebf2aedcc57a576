import type { MiddlewareHandler } from "hono";

/**
 * `X-Content-Type-Options: nosniff` on every response, errors included: a browser never reads a
 * body as another type than the one declared (a JSON answer or a text/plain error run as script).
 */
export function noSniff(): MiddlewareHandler {
  return async function noSniffHeader(c, next) {
    await next();
    c.header("X-Content-Type-Options", "nosniff");
  };
}
