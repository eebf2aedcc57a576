import type { Context, Env, MiddlewareHandler } from "hono";
import { requestContentCodings } from "./content-coding.ts";
import { decodeUtf8, illFormedTextPath } from "./unicode-text.ts";

export type JsonBodyProblem =
  | { kind: "content_coding"; codings: string[] }
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
  /**
   * When given, every string and key of the body must be well-formed Unicode (no lone
   * surrogates written as JSON escapes); the first that is not is reported here by its field
   * path (thrown as the system's own 400).
   */
  onIllFormedText?: (field: string) => never;
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
  return concatBytes(chunks, size);
}

/** The chunks as one array of `size` bytes (their total length). */
export function concatBytes(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/**
 * Checks size, content coding, media type, encoding and JSON syntax of a request body before any schema sees it,
 * so that each failure gets its own status (413, 415, 400) instead of one generic validation error.
 * The body text is left in Hono's body cache, so later `c.req.json()` calls reuse it.
 */
export function jsonBody<E extends Env>(options: JsonBodyOptions<E>): MiddlewareHandler<E> {
  const accepted = new Set(["application/json", ...(options.extraMediaTypes ?? [])]);
  return async function jsonBodyMiddleware(c, next) {
    const maxBytes = typeof options.maxBytes === "number" ? options.maxBytes : options.maxBytes(c);
    // Size first: an oversized body is refused for its size whatever else is wrong with it.
    const declared = Number(c.req.header("content-length") ?? "0");
    if (declared > maxBytes) options.onProblem({ kind: "payload_too_large", maxBytes });
    // Coded bytes read as if plain would parse garbage (RFC 9110 15.5.16): neither system decodes.
    const codings = requestContentCodings(c.req.header("content-encoding"));
    if (codings.length > 0 && c.req.raw.body !== null) options.onProblem({ kind: "content_coding", codings });
    const type = mediaType(c.req.header("content-type"));
    if (!type || !(accepted.has(type) || JSON_TYPE.test(type))) {
      options.onProblem({ kind: "unsupported_media_type", contentType: type });
    }
    const raw = c.req.raw.body ? await readLimited(c.req.raw.body, maxBytes) : new Uint8Array();
    if (raw === null) options.onProblem({ kind: "payload_too_large", maxBytes });
    // JSON travels as UTF-8 (RFC 8259 8.1); bytes that are not would silently become U+FFFD.
    const text = decodeUtf8(raw);
    if (text === null) options.onProblem({ kind: "invalid_json", reason: "the body is not valid UTF-8" });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      options.onProblem({
        kind: "invalid_json",
        reason: error instanceof Error ? error.message : "not JSON",
      });
    }
    if (options.onIllFormedText) {
      const field = illFormedTextPath(parsed);
      if (field !== null) options.onIllFormedText(field);
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
