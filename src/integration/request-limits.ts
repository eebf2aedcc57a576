import type { MiddlewareHandler } from "hono";
import { QUEUE_MAX_BODY_BYTES } from "../lib/queue-limits.ts";
import {
  BROKEN_OFF_MESSAGE,
  bodyLimitOf,
  ILL_FORMED_QUERY_MESSAGE,
  wellFormedQueryOf,
} from "../lib/request-limits.ts";
import type { IntegrationEnv } from "./context.ts";
import { ApiError } from "./errors.ts";
import { loadJobConfig } from "./jobs/config.ts";

/**
 * The routes whose bodies may be larger than API_MAX_BODY_BYTES: bulk imports, the operator's
 * import, and the console's upload form (the file plus a little multipart framing).
 */
const IMPORTS_PATH =
  /^(?:\/api\/v1\/imports|\/api\/v1\/admin\/connections\/[^/]+\/imports|\/console\/connections\/[^/]+\/jobs\/import)\/?$/;
/**
 * Acme's webhooks in: their limit is what fits in an inbox queue message (the receiver refines it
 * with the message's envelope), not API_MAX_BODY_BYTES, so a large contact with its previous
 * version is not refused on every retry.
 */
const WEBHOOKS_PATH = /^\/webhooks\/acme\/[^/]+\/?$/;
/** Room for the multipart framing and form fields around an uploaded file (bytes). */
const MULTIPART_ALLOWANCE = 16_384;

/**
 * 413 `payload_too_large` for a body over the route's limit, before any other check (auth, media
 * type, parsing): API_MAX_BODY_BYTES, IMPORT_MAX_BODY_BYTES on the import routes, or a queue
 * message's size on Acme's webhooks. A
 * declared Content-Length decides at once; a body without one is read up to the limit. A body
 * that breaks off (the client went, bad chunked encoding) is 400 `validation_failed`.
 */
export function apiBodyLimit(): MiddlewareHandler<IntegrationEnv> {
  return bodyLimitOf<IntegrationEnv>(
    (c) => {
      if (WEBHOOKS_PATH.test(c.req.path)) return QUEUE_MAX_BODY_BYTES;
      return IMPORTS_PATH.test(c.req.path)
        ? loadJobConfig(c.env).importMaxBodyBytes +
            (c.req.path.startsWith("/console/") ? MULTIPART_ALLOWANCE : 0)
        : c.var.config.maxBodyBytes;
    },
    {
      tooLarge: (max) => new ApiError("payload_too_large", `The body exceeds ${max} bytes.`),
      brokenOff: () => new ApiError("validation_failed", BROKEN_OFF_MESSAGE),
    },
  );
}

/** 400 naming the query parameter whose name or value is not valid percent-encoded UTF-8. */
export function wellFormedQuery(): MiddlewareHandler<IntegrationEnv> {
  return wellFormedQueryOf<IntegrationEnv>(
    (name) =>
      new ApiError("validation_failed", `Query parameter ${name} is not valid UTF-8 text.`, {
        errors: [{ field: name, message: ILL_FORMED_QUERY_MESSAGE }],
      }),
  );
}
