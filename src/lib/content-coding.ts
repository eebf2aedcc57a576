import type { Env, MiddlewareHandler } from "hono";

/**
 * What both systems answer with their 415 for a coded body: the codings they decode, none
 * (RFC 7694 3: `Accept-Encoding` on a 415 lists the content codings the resource accepts).
 */
export const ACCEPTED_REQUEST_ENCODING = "identity";

/**
 * The content codings of a request body other than `identity` (RFC 9110 8.4), lower-cased in the
 * order applied; empty for a body sent as it is.
 */
export function requestContentCodings(header: string | undefined): string[] {
  return (header ?? "")
    .split(",")
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== "" && coding !== "identity");
}

/**
 * Refuses a request whose body carries a content coding (gzip, br, ...): neither system decodes
 * one, and reading the coded bytes as if plain would parse garbage or, worse, something else
 * (RFC 9110 15.5.16). Throws `refuse(codings)`, each system's 415, which should carry
 * `Accept-Encoding: identity`. A request without a body passes whatever it declares.
 */
export function identityBodyOf<E extends Env>(refuse: (codings: string[]) => Error): MiddlewareHandler<E> {
  return async function identityBody(c, next) {
    const codings = requestContentCodings(c.req.header("content-encoding"));
    if (codings.length > 0 && c.req.raw.body !== null) throw refuse(codings);
    await next();
  };
}
