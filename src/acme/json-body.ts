import { jsonBody } from "../lib/json-body.ts";
import type { AcmeEnv } from "./context.ts";
import { AcmeError } from "./errors.ts";

/**
 * Acme's JSON request bodies: 415 for other media types (merge-patch JSON is fine), 413 over
 * ACME_MAX_BODY_BYTES, 400 `invalid_json` for bad syntax; all in Acme's error format.
 */
export const acmeJsonBody = jsonBody<AcmeEnv>({
  maxBytes: (c) => c.var.config.maxBodyBytes,
  extraMediaTypes: ["application/merge-patch+json"],
  onProblem(problem): never {
    switch (problem.kind) {
      case "unsupported_media_type":
        throw new AcmeError("unsupported_media_type", "Send the body as application/json.");
      case "payload_too_large":
        throw new AcmeError("payload_too_large", `The body exceeds ${problem.maxBytes} bytes.`);
      case "invalid_json":
        throw new AcmeError("invalid_json", `The body is not valid JSON: ${problem.reason}`);
    }
  },
});
