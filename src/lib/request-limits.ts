import type { Context, Env, MiddlewareHandler } from "hono";
import { concatBytes } from "./json-body.ts";
import { log } from "./logger.ts";
import { illFormedQueryParameter } from "./unicode-text.ts";

/** Each system's own errors for a body it will not take. */
export interface BodyErrors {
  /** A body over `maxSize` bytes (each system's 413). */
  tooLarge: (maxSize: number) => Error;
  /**
   * A body that broke off before its end: the client closed the connection mid-body, or sent a
   * malformed chunked encoding (each system's 400; a client that has gone never reads it).
   */
  brokenOff: () => Error;
}

/**
 * Refuses a body over `maxSize(c)` bytes before any other check (auth, media type, parsing),
 * throwing `errors.tooLarge(maxSize)`. A declared Content-Length decides at once and the body is
 * left to be read where it is used; a body without one is read here, up to the limit.
 *
 * Either way a read that fails (the runtime's "Network connection lost" and the like) throws
 * `errors.brokenOff()` wherever the body is read, and is logged at warn: it is the client's doing,
 * not a server error. Applied twice (a route's own limit, then the system's), the first wins.
 */
export function bodyLimitOf<E extends Env>(
  maxSize: (c: Context<E>) => number,
  errors: BodyErrors,
): MiddlewareHandler<E> {
  return async function bodyLimitMiddleware(c, next) {
    const body = c.req.raw.body;
    if (!body || c.get("bodyGuarded")) return next();
    c.set("bodyGuarded", true);
    const max = maxSize(c);
    const declared = c.req.raw.headers.get("content-length");
    if (declared !== null && !c.req.raw.headers.has("transfer-encoding")) {
      if (Number.parseInt(declared, 10) > max) throw errors.tooLarge(max);
      c.req.raw = new Request(c.req.raw, { body: guardedBody(body, errors.brokenOff) });
      return next();
    }
    const read = await readUpTo(body, max, errors.brokenOff);
    if (read === null) throw errors.tooLarge(max);
    c.req.raw = new Request(c.req.raw, { body: read });
    return next();
  };
}

function logBrokenOff(error: unknown): void {
  log("warn", "request body broke off", { reason: error instanceof Error ? error.message : String(error) });
}

/** The body's bytes, or null past `max`; a failed read throws `brokenOff()`. */
async function readUpTo(
  body: ReadableStream<Uint8Array>,
  max: number,
  brokenOff: () => Error,
): Promise<Uint8Array | null> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await reader.read();
    } catch (error) {
      logBrokenOff(error);
      throw brokenOff();
    }
    if (chunk.done) break;
    size += chunk.value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(chunk.value);
  }
  return concatBytes(chunks, size);
}

/** `body` as it comes, except that a failed read errors the stream with `brokenOff()`. */
function guardedBody(body: ReadableStream<Uint8Array>, brokenOff: () => Error): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        logBrokenOff(error);
        controller.error(brokenOff());
        return;
      }
      if (chunk.done) controller.close();
      else controller.enqueue(chunk.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

declare module "hono" {
  interface ContextVariableMap {
    /** The request body is already limited and its read failures turned into the system's error. */
    bodyGuarded: boolean;
  }
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

/** What both systems say of a body that broke off. */
export const BROKEN_OFF_MESSAGE =
  "The request body broke off before its end (the connection closed, or the chunked encoding is malformed).";

/** What both systems say of an ill-formed query parameter. */
export const ILL_FORMED_QUERY_MESSAGE = "must be percent-encoded UTF-8 (valid Unicode text)";
