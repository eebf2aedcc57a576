import type { SecretKeyRing } from "../../lib/secret-box.ts";
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
  const basic = btoa(`${encodeURIComponent(connection.acmeClientId)}:${encodeURIComponent(secret)}`);
  const outcome = await options.exchange(
    new Request(`${options.baseUrl}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${basic}` },
      body: "grant_type=client_credentials",
    }),
    options.timeoutMs,
  );
  if (outcome.kind !== "response") throw callProblem({ reason: "unavailable", retryAfterMs: null }, "token");
  const { status, headers, body } = outcome.response;
  const token = body as { access_token?: unknown; expires_in?: unknown } | null;
  // The token goes into an Authorization header and its lifetime into the session's clock: take
  // only what fits (visible ASCII, RFC 6750 2.1; a positive whole number of seconds, at most a
  // day). A lifetime left out (or null) is not wrong, only unsaid: the default stands in.
  const expiresIn = token?.expires_in ?? DEFAULT_TOKEN_LIFETIME_SECONDS;
  if (
    status === 200 &&
    typeof token?.access_token === "string" &&
    ACCESS_TOKEN.test(token.access_token) &&
    Number.isInteger(expiresIn) &&
    (expiresIn as number) > 0
  ) {
    return {
      accessToken: token.access_token,
      expiresIn: Math.min(MAX_TOKEN_LIFETIME_SECONDS, expiresIn as number),
    };
  }
  throw acmeProblem(status, body, headers, undefined, "token");
}
