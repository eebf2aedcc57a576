import { exports } from "cloudflare:workers";
import { checkingFetch, isDocumentedSurface } from "./check-responses.ts";

// Setup file of the workerd suite: every response a test receives through SELF.fetch is checked
// against the OpenAPI documents. SELF reads `fetch` from this loopback stub on each call, so
// replacing it here covers every test file.
const ORIGINAL_FETCH = Symbol.for("acme-bridge.contract.originalFetch");

type Loopback = { fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response> } & {
  [ORIGINAL_FETCH]?: Loopback["fetch"];
};

const loopback = (exports as unknown as { default: Loopback }).default;
const original = loopback[ORIGINAL_FETCH] ?? loopback.fetch.bind(loopback);
loopback[ORIGINAL_FETCH] = original;
loopback.fetch = checkingFetch(original, (url) => isDocumentedSurface(url.pathname));
