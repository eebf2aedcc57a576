import { classifyHost } from "../../lib/webhook-url-policy.ts";
import type { IntegrationConfig } from "../config.ts";

/**
 * The origin end users and Acme reach this deployment at, without a trailing slash: PUBLIC_BASE_URL
 * when set; in local dev (ENVIRONMENT "development") `http://127.0.0.1:<port>` for a request that
 * came to a loopback host, since that is the callback the demo seed registers at Acme; otherwise
 * the request's own origin (as the webhook URLs are derived, `publicOrigin`).
 */
export function connectOrigin(
  config: Pick<IntegrationConfig, "publicBaseUrl" | "environment">,
  requestUrl: string,
): string {
  if (config.publicBaseUrl) return config.publicBaseUrl;
  const url = new URL(requestUrl);
  if (config.environment === "development" && classifyHost(url.hostname) === "loopback") {
    return `http://127.0.0.1${url.port ? `:${url.port}` : ""}`;
  }
  return url.origin;
}

/** The one callback of every OAuth connect session: `<origin>/connect/callback`. */
export function connectCallbackUrl(origin: string): string {
  return `${origin}/connect/callback`;
}

/** The hosted page of the session whose token is `token`. */
export function connectPageUrl(origin: string, token: string): string {
  return `${origin}/connect/${token}`;
}
