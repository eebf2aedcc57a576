/**
 * How the integration reaches Acme: anything `fetch`-shaped. For a real Acme it is `fetch`; for
 * the mock in this Worker, the Worker's own router called in-process (no network hop).
 */
export type AcmeTransport = (request: Request) => Promise<Response>;

/** The base URL used for in-process calls; it never leaves the isolate. */
export const IN_PROCESS_ACME_BASE_URL = "http://acme.internal/acme";

export function transportFor(
  baseUrl: string | null | undefined,
  inProcess: AcmeTransport,
): { baseUrl: string; transport: AcmeTransport } {
  if (!baseUrl) return { baseUrl: IN_PROCESS_ACME_BASE_URL, transport: inProcess };
  return { baseUrl: baseUrl.replace(/\/+$/, ""), transport: (request) => fetch(request) };
}
