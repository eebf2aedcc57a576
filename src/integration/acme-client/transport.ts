import { ApiError } from "../errors.ts";

/**
 * How the integration reaches Acme: anything `fetch`-shaped. For a real Acme it is `fetch`; for
 * the mock in this Worker, the Worker's own router called in-process (no network hop).
 */
export type AcmeTransport = (request: Request) => Promise<Response>;

/** The base URL used for in-process calls; it never leaves the isolate. */
export const IN_PROCESS_ACME_BASE_URL = "http://acme.internal/acme";

/**
 * The in-process transport of a Worker without the mock (env.production): never used, since its
 * config requires ACME_BASE_URL; should it be reached, the call fails as Acme unreachable.
 */
export const NO_IN_PROCESS_ACME: AcmeTransport = () =>
  Promise.reject(new Error("no Acme in this Worker: connections need ACME_BASE_URL or their own base URL"));

/** The base URL and transport for a connection: `fetch` to `baseUrl`, or in-process when it is unset. */
export function transportFor(
  baseUrl: string | null | undefined,
  inProcess: AcmeTransport,
): { baseUrl: string; transport: AcmeTransport } {
  if (!baseUrl) return { baseUrl: IN_PROCESS_ACME_BASE_URL, transport: inProcess };
  return { baseUrl: baseUrl.replace(/\/+$/, ""), transport: (request) => fetch(request) };
}

/** Acme's answer: status, headers and the body parsed as JSON (null when empty). */
export interface AcmeResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

/** How one HTTP exchange with Acme ended: its answer, or why there is none. */
export type ExchangeOutcome =
  | { kind: "response"; response: AcmeResponse }
  | { kind: "timeout" }
  | { kind: "unreachable" };

/**
 * One HTTP exchange under a timeout (ms) that covers the answer and its body; the request is
 * aborted when it runs out. A body that is not JSON is 502 acme_bad_response (thrown), except on
 * a 5xx, whose body is not read further.
 */
export async function timedExchange(
  transport: AcmeTransport,
  request: Request,
  timeoutMs: number,
): Promise<ExchangeOutcome> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = Symbol("timeout");
  const timeout = new Promise<typeof timedOut>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve(timedOut);
    }, timeoutMs);
  });
  try {
    const response = await Promise.race([
      transport(new Request(request, { signal: controller.signal })),
      timeout,
    ]);
    if (response === timedOut) return { kind: "timeout" };
    const text = await Promise.race([response.text(), timeout]);
    if (text === timedOut) return { kind: "timeout" };
    let body: unknown = null;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        if (response.status < 500) {
          throw new ApiError(
            "acme_bad_response",
            `Acme answered ${response.status} with a body that is not JSON.`,
          );
        }
      }
    }
    return { kind: "response", response: { status: response.status, headers: response.headers, body } };
  } catch (error) {
    if (error instanceof ApiError) throw error;
    return { kind: "unreachable" };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
