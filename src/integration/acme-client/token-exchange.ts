import type { SecretKeyRing } from "../../lib/secret-box.ts";
import type { OAuthAppCredentials } from "../config.ts";
import type { ConnectionRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import { acmeProblem, callProblem } from "./acme-errors.ts";
import type { ExchangeOutcome } from "./transport.ts";

/** What an access token may look like to be sent back as a Bearer credential (RFC 6750 2.1). */
const ACCESS_TOKEN = /^[\x21-\x7e]{1,8192}$/;
/** A token is refreshed at least this often, s, whatever lifetime Acme claims. */
const MAX_TOKEN_LIFETIME_SECONDS = 86_400;
/**
 * The lifetime, s, of a token issued without `expires_in` (optional in RFC 6749 5.1): short, so
 * a token that lives less long is replaced soon; one that lives even less is refreshed on the
 * 401 it meets (one refresh and one retry), as any token Acme revokes early.
 */
export const DEFAULT_TOKEN_LIFETIME_SECONDS = 300;

export interface TokenExchangeOptions {
  /** The timed HTTP exchange to use (the client's, so the attempt is counted). */
  exchange: (request: Request, timeoutMs: number) => Promise<ExchangeOutcome>;
  baseUrl: string;
  connection: Pick<ConnectionRow, "id" | "acmeClientId" | "acmeClientSecretEnc">;
  /** Opens the connection's client secret, stored encrypted. */
  secretKeys: SecretKeyRing;
  timeoutMs: number;
}

/** An access token and its lifetime in seconds, as Acme's token endpoint issued it. */
export interface IssuedToken {
  accessToken: string;
  expiresIn: number;
}

/**
 * The client credentials grant (RFC 6749 section 4.4) at Acme's token endpoint, the client
 * authenticating with HTTP Basic. Throws the problem for any other outcome: 502
 * acme_auth_failed when Acme refuses the credentials, 429 or 503 with Retry-After when it is
 * limiting, failing or out of reach, 502 acme_bad_response for an answer that is not a token
 * (a lifetime that is there but not a positive whole number included). Without `expires_in`, the
 * token lives DEFAULT_TOKEN_LIFETIME_SECONDS.
 */
export async function requestAccessToken(options: TokenExchangeOptions): Promise<IssuedToken> {
  const { connection } = options;
  if (connection.acmeClientSecretEnc === null) {
    throw new ApiError("internal_error", `Connection ${connection.id} has no client secret to exchange.`);
  }
  const secret = await options.secretKeys.open(connection.acmeClientSecretEnc, connection.id);
  const outcome = await options.exchange(
    tokenRequest(
      options.baseUrl,
      { clientId: connection.acmeClientId, clientSecret: secret },
      {
        grant_type: "client_credentials",
      },
    ),
    options.timeoutMs,
  );
  if (outcome.kind !== "response") throw callProblem({ reason: "unavailable", retryAfterMs: null }, "token");
  const { status, headers, body } = outcome.response;
  const token = status === 200 ? parseIssuedToken(body) : null;
  if (token) return token;
  throw acmeProblem(status, body, headers, undefined, "token");
}

/** A POST to Acme's token endpoint with `form`, the client authenticating with HTTP Basic (RFC 6749 2.3.1). */
export function tokenRequest(
  baseUrl: string,
  client: OAuthAppCredentials,
  form: Record<string, string>,
): Request {
  const basic = btoa(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`);
  return new Request(`${baseUrl}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${basic}` },
    body: new URLSearchParams(form).toString(),
  });
}

/**
 * The access token and lifetime of a 200 from the token endpoint, or null when they are unusable.
 * The token goes into an Authorization header and its lifetime into the session's clock: take
 * only what fits (visible ASCII, RFC 6750 2.1; a positive whole number of seconds, capped at a
 * day). A lifetime left out (or null) is not wrong, only unsaid: the default stands in.
 */
export function parseIssuedToken(body: unknown): IssuedToken | null {
  const token = body as { access_token?: unknown; expires_in?: unknown } | null;
  const expiresIn = token?.expires_in ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
  if (
    typeof token?.access_token !== "string" ||
    !ACCESS_TOKEN.test(token.access_token) ||
    !Number.isInteger(expiresIn) ||
    (expiresIn as number) <= 0
  )
    return null;
  return {
    accessToken: token.access_token,
    expiresIn: Math.min(MAX_TOKEN_LIFETIME_SECONDS, expiresIn as number),
  };
}

/** What a refresh token may look like to be stored and presented again (RFC 6749 A.17: VSCHAR). */
const REFRESH_TOKEN = /^[\x21-\x7e]{1,2048}$/;

/** An access token with the refresh token issued beside it (authorization code or refresh grant). */
export interface IssuedOAuthTokens extends IssuedToken {
  refreshToken: string;
}

/**
 * The tokens of a 200 from the token endpoint to an authorization code or refresh token grant,
 * or null when any is unusable (no refresh token included: Acme always rotates it).
 */
export function parseIssuedOAuthTokens(body: unknown): IssuedOAuthTokens | null {
  const token = parseIssuedToken(body);
  const refreshToken = (body as { refresh_token?: unknown } | null)?.refresh_token;
  if (!token || typeof refreshToken !== "string" || !REFRESH_TOKEN.test(refreshToken)) return null;
  return { ...token, refreshToken };
}

export interface RefreshExchangeOptions {
  /** The timed HTTP exchange to use (the client's, so the attempt is counted). */
  exchange: (request: Request, timeoutMs: number) => Promise<ExchangeOutcome>;
  baseUrl: string;
  /** The product's app at Acme, which the grant was issued to. */
  app: OAuthAppCredentials;
  /** The refresh token to present (in the clear; it is used up by this request). */
  refreshToken: string;
  timeoutMs: number;
}

/** A refresh's outcome when Acme answered it: new tokens, or the grant refused (`invalid_grant`). */
export type RefreshOutcome = { kind: "issued"; tokens: IssuedOAuthTokens } | { kind: "invalid_grant" };

/**
 * The refresh token grant (RFC 6749 section 6) at Acme's token endpoint, the app authenticating
 * with HTTP Basic. Acme rotates refresh tokens: the answer carries a new one and the presented
 * one is used up. Returns the new tokens, or `invalid_grant` when Acme refused the grant (revoked,
 * expired, or the token presented before). Throws the problem for anything else: 503
 * acme_unavailable when there is no answer or a 5xx (whether Acme rotated the token is then
 * unknown), 429 when the endpoint is limiting, 502 acme_auth_failed when Acme refuses the app's
 * own credentials, 502 acme_bad_response for a 200 without usable tokens.
 */
export async function refreshAccessToken(options: RefreshExchangeOptions): Promise<RefreshOutcome> {
  const outcome = await options.exchange(
    tokenRequest(options.baseUrl, options.app, {
      grant_type: "refresh_token",
      refresh_token: options.refreshToken,
    }),
    options.timeoutMs,
  );
  if (outcome.kind !== "response") throw callProblem({ reason: "unavailable", retryAfterMs: null }, "token");
  const { status, headers, body } = outcome.response;
  if (status === 200) {
    const tokens = parseIssuedOAuthTokens(body);
    if (tokens) return { kind: "issued", tokens };
    throw new ApiError(
      "acme_bad_response",
      "Acme's token endpoint answered a refresh without usable tokens.",
    );
  }
  if (status === 400 && (body as { error?: unknown } | null)?.error === "invalid_grant")
    return { kind: "invalid_grant" };
  if (status === 401) {
    throw new ApiError(
      "acme_auth_failed",
      "Acme refused this deployment's app credentials (ACME_OAUTH_CLIENT_ID, ACME_OAUTH_CLIENT_SECRET).",
    );
  }
  throw acmeProblem(status, body, headers, undefined, "token");
}
