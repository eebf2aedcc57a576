import { inject } from "vitest";
import { checkingFetch, isDocumentedSurface } from "../contract/check-responses.ts";

// Setup file of the end-to-end suite: every response from the Worker under test that a test
// receives through fetch (directly or through the typed client) is checked against the OpenAPI
// documents it serves.
const origin = new URL(inject("baseUrl")).origin;
// /__scheduled is wrangler's own trigger for the cron handler (--test-scheduled), not a route.
globalThis.fetch = checkingFetch(
  globalThis.fetch,
  (url) => url.origin === origin && url.pathname !== "/__scheduled" && isDocumentedSurface(url.pathname),
);
