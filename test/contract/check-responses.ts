import { acmeBridgeSystems, ContractChecker, type OpenApiDocument } from "./openapi-contract.ts";

/** The paths of the two documents the Worker serves. */
export const DOCUMENT_PATHS = { integration: "/api/openapi.json", acme: "/acme/openapi.json" } as const;

/**
 * Surfaces no OpenAPI document describes: the operator console and the hosted connect pages
 * (server-rendered HTML pages and forms for browsers; the connect pages are described in the
 * README and tested in test/integration/connect/) and the static assets served before the Worker runs.
 */
export const UNDOCUMENTED_PREFIXES = ["/console", "/connect", "/assets/"] as const;

/** Whether a path belongs to a system an OpenAPI document describes (everything but the console, connect pages and assets). */
export function isDocumentedSurface(pathname: string): boolean {
  return !UNDOCUMENTED_PREFIXES.some(
    (prefix) => pathname === prefix || pathname.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`),
  );
}

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Loads both documents through `fetch` from `origin` and builds their checker. */
export async function loadChecker(fetch: Fetch, origin: string): Promise<ContractChecker> {
  const load = async (path: string) => {
    const res = await fetch(`${origin}${path}`);
    if (res.status !== 200) throw new Error(`${path} answered ${res.status}`);
    return (await res.json()) as OpenApiDocument;
  };
  const [integration, acme] = await Promise.all([
    load(DOCUMENT_PATHS.integration),
    load(DOCUMENT_PATHS.acme),
  ]);
  return new ContractChecker(acmeBridgeSystems({ integration, acme }));
}

/**
 * Wraps a fetch so every response is checked against the served OpenAPI documents before the
 * caller sees it; a response that breaks them rejects with a ContractViolation. `applies` says
 * which requests are this Worker's (others pass unchecked). The documents are loaded once, on
 * first use, through the unwrapped fetch.
 */
export function checkingFetch(fetch: Fetch, applies: (url: URL) => boolean): Fetch {
  let checker: Promise<ContractChecker> | undefined;
  return async function contractCheckedFetch(input, init) {
    const request = new Request(input, init);
    const url = new URL(request.url);
    const response = await fetch(request);
    if (!applies(url)) return response;
    checker ??= loadChecker(fetch, url.origin);
    // Event streams never end; everything else is read in full from a copy.
    const streaming = response.headers.get("content-type")?.startsWith("text/event-stream") ?? false;
    const body = streaming || !response.body ? "" : await response.clone().text();
    (await checker).check({
      method: request.method,
      url: request.url,
      status: response.status,
      headers: response.headers,
      body,
    });
    return response;
  };
}
