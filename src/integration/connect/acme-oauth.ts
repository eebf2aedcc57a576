import { callProblem } from "../acme-client/acme-errors.ts";
import { parseIssuedOAuthTokens, tokenRequest } from "../acme-client/token-exchange.ts";
import { type AcmeTransport, timedExchange } from "../acme-client/transport.ts";
import type { OAuthAppCredentials } from "../config.ts";
import type { OAuthGrantTokens } from "../connections/oauth-grant.ts";

/** The scopes a connect session asks the user to approve: everything a connection uses. */
export const CONNECT_SCOPES = ["contacts.read", "contacts.write", "webhooks.manage"] as const;

/** Where Acme is for the connect flow: its base URL (…/acme) and how to reach it from here. */
export interface AcmeTarget {
  /** The base URL requests are made to (the in-process one for the mock in this Worker). */
  baseUrl: string;
  transport: AcmeTransport;
  timeoutMs: number;
}

/**
 * The authorization request (RFC 6749 4.1.1, RFC 7636 4.3) a browser is sent to:
 * `<browserBaseUrl>/oauth/authorize` with the app's client id, the callback, every CONNECT_SCOPES,
 * `state` and the S256 challenge.
 */
export function authorizeUrl(
  browserBaseUrl: string,
  params: { clientId: string; redirectUri: string; state: string; codeChallenge: string },
): string {
  const url = new URL(`${browserBaseUrl}/oauth/authorize`);
  url.search = new URLSearchParams({
    response_type: "code",
    client_id: params.clientId,
    redirect_uri: params.redirectUri,
    scope: CONNECT_SCOPES.join(" "),
    state: params.state,
    code_challenge: params.codeChallenge,
    code_challenge_method: "S256",
  }).toString();
  return url.toString();
}

/** Characters an OAuth error code may have (RFC 6749 4.1.2.1, NQSCHAR without spaces). */
const ERROR_CODE = /^[\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

/** An RFC 6749 error code as received, or `server_error` when it is missing or malformed. */
export function oauthErrorCode(value: unknown): string {
  return typeof value === "string" && ERROR_CODE.test(value) ? value : "server_error";
}

/** What exchanging an authorization code gave: the grant's tokens and account, or Acme's refusal. */
export type CodeExchangeOutcome =
  | { kind: "issued"; tokens: OAuthGrantTokens; accountId: string }
  | { kind: "refused"; error: string };

/** What an Acme account id may look like to be stored as a connection's `acme_client_id`. */
const ACCOUNT_ID = /^[\x21-\x7e]{1,200}$/;

/**
 * Exchanges an authorization code at Acme's token endpoint (RFC 6749 4.1.3 with the PKCE
 * verifier, RFC 7636 4.5), the app authenticating with HTTP Basic. `refused` carries Acme's error
 * (`invalid_grant` for a used, expired or foreign code or a wrong verifier), or `server_error` for
 * an answer without usable tokens and account. Throws the problem of no answer (503
 * acme_unavailable, 504 acme_timeout).
 */
export async function exchangeAuthorizationCode(
  acme: AcmeTarget,
  app: OAuthAppCredentials,
  params: { code: string; codeVerifier: string; redirectUri: string },
): Promise<CodeExchangeOutcome> {
  const outcome = await timedExchange(
    acme.transport,
    tokenRequest(acme.baseUrl, app, {
      grant_type: "authorization_code",
      code: params.code,
      redirect_uri: params.redirectUri,
      code_verifier: params.codeVerifier,
    }),
    acme.timeoutMs,
  );
  if (outcome.kind === "timeout") throw callProblem({ reason: "timeout", retryAfterMs: null }, "token");
  if (outcome.kind === "unreachable")
    throw callProblem({ reason: "unavailable", retryAfterMs: null }, "token");
  const { status, body } = outcome.response;
  if (status !== 200) return { kind: "refused", error: oauthErrorCode((body as { error?: unknown })?.error) };
  const tokens = parseIssuedOAuthTokens(body);
  const accountId = (body as { account_id?: unknown } | null)?.account_id;
  if (!tokens || typeof accountId !== "string" || !ACCOUNT_ID.test(accountId)) {
    return { kind: "refused", error: "server_error" };
  }
  return { kind: "issued", tokens, accountId };
}

/**
 * Whether Acme accepts `clientId` and `clientSecret` (a client credentials token request, RFC
 * 6749 4.4): `valid`; `invalid` when Acme refuses them (400/401 `invalid_client`,
 * `unauthorized_client`); `limited` when Acme's token endpoint is rate limiting the client.
 * Throws the problem of no answer or of any other answer (503, 504, 502 acme_bad_response).
 */
export async function checkClientCredentials(
  acme: AcmeTarget,
  credentials: OAuthAppCredentials,
): Promise<"valid" | "invalid" | "limited"> {
  const outcome = await timedExchange(
    acme.transport,
    tokenRequest(acme.baseUrl, credentials, { grant_type: "client_credentials" }),
    acme.timeoutMs,
  );
  if (outcome.kind === "timeout") throw callProblem({ reason: "timeout", retryAfterMs: null }, "token");
  if (outcome.kind === "unreachable")
    throw callProblem({ reason: "unavailable", retryAfterMs: null }, "token");
  const { status, body } = outcome.response;
  if (status === 200) return "valid";
  if (status === 429) return "limited";
  const error = (body as { error?: unknown } | null)?.error;
  if ((status === 400 || status === 401) && (error === "invalid_client" || error === "unauthorized_client")) {
    return "invalid";
  }
  throw callProblem({ reason: "unavailable", retryAfterMs: null }, "token");
}
