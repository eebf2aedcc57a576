import { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { sha256Hex } from "../../lib/crypto.ts";
import { errorFields, log } from "../../lib/logger.ts";
import { connectionData } from "../connection-data/stub.ts";
import type { IntegrationEnv } from "../context.ts";
import { ApiError, PROBLEM_CONTENT_TYPE } from "../errors.ts";
import { canonicalJson, type IdempotencyStart, type StoredResponse } from "./idempotency-store.ts";

/** RFC 9110 token-ish: 1-255 visible ASCII characters (the document states it as the pattern). */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The `Idempotency-Key` request header as the document states it: optional, its grammar, an example. */
export const IDEMPOTENCY_KEY_HEADER = z.object({
  "idempotency-key": z
    .string()
    .optional()
    .openapi({
      description:
        "1 to 255 visible ASCII characters, e.g. a UUID; another value is refused (400 naming " +
        "`Idempotency-Key`) once the body is valid",
      pattern: IDEMPOTENCY_KEY.source,
      example: "0b6c3d5e-8f1a-4c2b-9d7e-1f2a3b4c5d6e",
    }),
});

/** What the idempotency middleware guards: one operation, its body schema, the headers it replays. */
export interface IdempotencyOptions {
  /** Names the operation in the request hash, so a key never replays another operation's answer. */
  operation: string;
  /**
   * The route's body schema. A body it refuses never reaches the operation, so it takes no key
   * (the key stays usable) and its own errors come before any about the key.
   */
  body: { safeParse(value: unknown): { success: boolean } };
  /** Response headers kept and replayed with the body; default content-type, etag, location. */
  headers?: readonly string[];
  /**
   * On a key taken over from an attempt that never finished, the answer for a final error that
   * may only mean that attempt landed (a create meeting its own contact as a duplicate): the
   * response the first attempt would have given, or undefined to keep the error.
   */
  recoverTakeover?: (
    c: Context<IntegrationEnv>,
    body: unknown,
    error: ApiError,
  ) => Promise<Response | undefined>;
}

/** Waits (ms) before each further try to store an answer after the response went out. */
export const STORE_RETRY_DELAYS_MS = [200, 1000, 5000] as const;

const REPLAYED_HEADERS = ["content-type", "etag", "location"] as const;

/**
 * `Idempotency-Key` for a JSON write (after the JSON body middleware): the same key and body
 * replay the first answer (with `Idempotent-Replayed: true`), another body under the key is 422,
 * a key still in flight 409. Final answers (2xx, and problems below 429 such as validation or a
 * duplicate) are kept; failures worth retrying (429, 5xx, unknown errors) free the key so the
 * retry really runs. Without the header the request passes untouched.
 */
export function idempotency(options: IdempotencyOptions): MiddlewareHandler<IntegrationEnv> {
  const kept = options.headers ?? REPLAYED_HEADERS;
  return async function idempotencyMiddleware(c, next) {
    const key = c.req.header("idempotency-key");
    if (key === undefined) return next();
    const body: unknown = JSON.parse(c.var.rawBody);
    if (!options.body.safeParse(body).success) return next();
    if (!IDEMPOTENCY_KEY.test(key)) {
      throw new ApiError("validation_failed", "Idempotency-Key must be 1-255 visible ASCII characters.", {
        errors: [{ field: "Idempotency-Key", message: "1-255 visible ASCII characters" }],
      });
    }
    const store = idempotencyKeysOf(c.env, c.var.connection.id);
    const start = await store.start(key, await sha256Hex(`${options.operation}\n${canonicalJson(body)}`));
    if (start.kind === "replay") {
      // The stored copy of the first response, sent through the context so it carries this
      // request's X-Request-Id; a replayed problem names this request too, as every problem does.
      const { status, headers, body: stored } = start.response;
      for (const [name, value] of Object.entries(headers)) c.header(name, value);
      c.header("Idempotent-Replayed", "true");
      const replayed =
        headers["content-type"] === PROBLEM_CONTENT_TYPE
          ? JSON.stringify({ ...(JSON.parse(stored) as object), requestId: c.var.requestId })
          : stored;
      return c.body(replayed, status as ContentfulStatusCode);
    }
    if (start.kind === "mismatch") {
      throw new ApiError(
        "idempotency_key_reused",
        "This Idempotency-Key was used with a different request body.",
      );
    }
    if (start.kind === "in_flight") {
      throw new ApiError(
        "idempotency_key_in_flight",
        "A request with this Idempotency-Key is still in progress.",
        { headers: { "Retry-After": "1" } },
      );
    }
    // Errors downstream are already rendered by the app's error handler: c.error says which.
    await next();
    if (c.error && !(c.error instanceof ApiError && c.error.status < 429)) {
      try {
        await store.release(key);
      } catch (error) {
        // The key stays in flight until its lock expires; the answer is the one already made.
        log("warn", "idempotency key not released", { key, ...errorFields(error) });
      }
      return;
    }
    if (start.takenOver && c.error instanceof ApiError && options.recoverTakeover) {
      const recovered = await options.recoverTakeover(c, body, c.error);
      if (recovered) {
        c.res = undefined;
        c.res = recovered;
        c.header("Idempotent-Replayed", "true");
      }
    }
    const stored = await storedResponse(c.res, kept);
    // The answer is decided: failing to keep it must not change it (a 500 for a create that
    // happened). Keep trying after the response; if all fail, the lock expires and a retry takes
    // the key over (recoverTakeover).
    if (!(await tryComplete(store, key, stored))) c.var.defer(completeLater(store, key, stored));
  };
}

/** The connection's `Idempotency-Key` records, in its `ConnectionData` object (one call each). */
interface IdempotencyKeys {
  start(key: string, requestHash: string): Promise<IdempotencyStart>;
  complete(key: string, response: StoredResponse): Promise<void>;
  release(key: string): Promise<void>;
}

function idempotencyKeysOf(env: Env, connectionId: string): IdempotencyKeys {
  const data = connectionData(env, connectionId);
  return {
    start: (key, requestHash) => data.idempotencyStart(key, requestHash),
    complete: (key, response) => data.idempotencyComplete(key, response),
    release: (key) => data.idempotencyRelease(key),
  };
}

async function tryComplete(store: IdempotencyKeys, key: string, stored: StoredResponse): Promise<boolean> {
  try {
    await store.complete(key, stored);
    return true;
  } catch (error) {
    log("warn", "idempotent answer not stored", { key, status: stored.status, ...errorFields(error) });
    return false;
  }
}

async function completeLater(store: IdempotencyKeys, key: string, stored: StoredResponse): Promise<void> {
  for (const delay of STORE_RETRY_DELAYS_MS) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (await tryComplete(store, key, stored)) return;
  }
  log("error", "idempotent answer never stored; the key is released when its lock expires", { key });
}

async function storedResponse(response: Response, names: readonly string[]): Promise<StoredResponse> {
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = response.headers.get(name);
    if (value) headers[name] = value;
  }
  return { status: response.status, headers, body: await response.clone().text() };
}
