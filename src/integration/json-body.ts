import { jsonBody } from "../lib/json-body.ts";
import { codedBodyError } from "./content-coding.ts";
import type { IntegrationEnv } from "./context.ts";
import { ApiError } from "./errors.ts";

/** JSON request bodies: 415 for other media types, 413 over the limit, 400 for bad syntax. */
export const integrationJsonBody = jsonBody<IntegrationEnv>({
  maxBytes: (c) => c.var.config.maxBodyBytes,
  extraMediaTypes: ["application/merge-patch+json"],
  onProblem(problem): never {
    switch (problem.kind) {
      case "content_coding":
        throw codedBodyError(problem.codings);
      case "unsupported_media_type":
        throw new ApiError("unsupported_media_type", "Send the body as application/json.");
      case "payload_too_large":
        throw new ApiError("payload_too_large", `The body exceeds ${problem.maxBytes} bytes.`);
      case "invalid_json":
        throw new ApiError("invalid_json", `The body is not valid JSON: ${problem.reason}`);
    }
  },
});
