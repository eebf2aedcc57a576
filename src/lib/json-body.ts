import type { Context, Env, MiddlewareHandler } from "hono";

export type JsonBodyProblem =
  | { kind: "unsupported_media_type"; contentType: string | undefined }
  | { kind: "payload_too_large"; maxBytes: number }
  | { kind: "invalid_json"; reason: string };

export interface JsonBodyOptions<E extends Env> {
  /** Largest body accepted, in bytes, whether or not Content-Length is declared. */
  maxBytes: number | ((c: Context<E>) => number);
  /** Media types accepted besides `application/json` (e.g. `application/merge-patch+json`). */
  extraMediaTypes?: string[];
  /** Turns a problem into the calling system's own error (thrown). */
  onProblem: (problem: JsonBodyProblem) => never;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json$/i;

function mediaType(header: string | undefined): string | undefined {
  return header?.split(";")[0]?.trim().toLowerCase();
}

/** Reads a body stream, or gives null as soon as it exceeds `maxBytes`. */
export async function readLimited(
  body: ReadableStream<Uint8Array>,
  maxBytes: number,
): Promise<Uint8Array | null> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * Checks media type, size and JSON syntax of a request body before any schema sees it, so that
 * each failure gets its own status (415, 413, 400) instead of one generic validation error.
 * The body text is left in Hono's body cache, so later `c.req.json()` calls reuse it.
 */
export function jsonBody<E extends Env>(options: JsonBodyOptions<E>): MiddlewareHandler<E> {
  const accepted = new Set(["application/json", ...(options.extraMediaTypes ?? [])]);
  return async function jsonBodyMiddleware(c, next) {
    const maxBytes = typeof options.maxBytes === "number" ? options.maxBytes : options.maxBytes(c);
    const type = mediaType(c.req.header("content-type"));
    if (!type || !(accepted.has(type) || JSON_TYPE.test(type))) {
      options.onProblem({ kind: "unsupported_media_type", contentType: type });
    }
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > maxBytes) options.onProblem({ kind: "payload_too_large", maxBytes });
    const raw = c.req.raw.body ? await readLimited(c.req.raw.body, maxBytes) : new Uint8Array();
    if (raw === null) options.onProblem({ kind: "payload_too_large", maxBytes });
    const text = new TextDecoder().decode(raw);
    try {
      JSON.parse(text);
    } catch (error) {
      options.onProblem({
        kind: "invalid_json",
        reason: error instanceof Error ? error.message : "not JSON",
      });
    }
    // Hono's validators read the body through this cache; the stream itself is consumed.
    // (Hono types the cache as Partial<Body> but stores promises of the bodies in it.)
    (c.req.bodyCache as Record<string, Promise<unknown>>).text = Promise.resolve(text);
    c.set("rawBody", text);
    await next();
  };
}

declare module "hono" {
  interface ContextVariableMap {
    /** The request body as received, for signature checks and replay comparisons. */
    rawBody: string;
  }
}
