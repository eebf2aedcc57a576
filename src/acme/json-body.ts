import { jsonBody } from "../lib/json-body.ts";
import { codedBodyError } from "./content-coding.ts";
import type { AcmeEnv } from "./context.ts";
import { AcmeError } from "./errors.ts";

/** 400 for text that is not valid Unicode (a lone surrogate), naming where it was. */
export function illFormedText(field: string): AcmeError {
  return new AcmeError("validation_failed", `${field} is not valid Unicode text.`, {
    details: [{ field, message: "must be valid Unicode text (no lone surrogates or broken escapes)" }],
  });
}

/**
 * Acme's JSON request bodies: 413 over ACME_MAX_BODY_BYTES, 415 for other media types
 * (merge-patch JSON is fine), 400 `invalid_json` for bad syntax or bytes that are not UTF-8, 400
 * `validation_failed` naming the field for text that is not valid Unicode; in Acme's format.
 */
export const acmeJsonBody = jsonBody<AcmeEnv>({
  maxBytes: (c) => c.var.config.maxBodyBytes,
  extraMediaTypes: ["application/merge-patch+json"],
  onIllFormedText(field): never {
    throw illFormedText(field);
  },
  onProblem(problem): never {
    switch (problem.kind) {
      case "content_coding":
        throw codedBodyError(problem.codings);
      case "unsupported_media_type":
        throw new AcmeError("unsupported_media_type", "Send the body as application/json.");
      case "payload_too_large":
        throw new AcmeError("payload_too_large", `The body exceeds ${problem.maxBytes} bytes.`);
      case "invalid_json":
        throw new AcmeError("invalid_json", `The body is not valid JSON: ${problem.reason}`);
    }
  },
});
