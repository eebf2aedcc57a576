import { SealedSecretError, type SecretKeyRing } from "../../lib/secret-box.ts";
import { parseIssuedOAuthTokens } from "../acme-client/token-exchange.ts";
import { ApiError } from "../errors.ts";
import { acmeSessionStub } from "../session/session-stub.ts";
import { findConnection, setConnectionStatus } from "./connection-store.ts";

/** The tokens Acme issued for a new grant (authorization code exchange): as its token endpoint says them. */
export interface OAuthGrantTokens {
  refreshToken: string;
  accessToken: string;
  /** The access token's lifetime, whole seconds (at most a day is believed). */
  expiresIn: number;
}

/** The AAD a connection's refresh token is sealed under (secret-box). */
export function refreshTokenContext(connectionId: string): string {
  return `${connectionId}:refresh`;
}

/**
 * Installs a new OAuth grant on the connection `connectionId` (method `oauth`, its row already in
 * D1): the refresh token sealed with `keys` (AAD `${connectionId}:refresh`) and the access token,
 * both kept in the connection's AcmeSession, which refreshes from then on; clears needs_reauth
 * there and sets D1's status to `active`. Used for a new connection and to repair one in place
 * (same id, data kept): a refresh still running on the previous grant stores nothing.
 * Throws ApiError `not_found` (404) for no such connection, `conflict` (409) for a connection
 * that is not an OAuth one, and `acme_bad_response` (502) for tokens that are not usable.
 */
export async function installOAuthGrant(
  env: Env,
  keys: SecretKeyRing,
  connectionId: string,
  tokens: OAuthGrantTokens,
): Promise<void> {
  const usable = parseIssuedOAuthTokens({
    access_token: tokens.accessToken,
    expires_in: tokens.expiresIn,
    refresh_token: tokens.refreshToken,
  });
  if (!usable) throw new ApiError("acme_bad_response", "Acme issued tokens that cannot be used.");
  const connection = await findConnection(env.DB, connectionId);
  if (!connection) throw new ApiError("not_found", `Connection ${connectionId} does not exist.`);
  if (connection.method !== "oauth") {
    throw new ApiError("conflict", `Connection ${connectionId} does not use OAuth.`);
  }
  const sealed = await keys.seal(usable.refreshToken, refreshTokenContext(connectionId));
  // The session first: it decides, and D1's status only mirrors it for listings.
  await acmeSessionStub(env, connectionId).installGrant(
    connectionId,
    sealed,
    usable.accessToken,
    usable.expiresIn,
  );
  await setConnectionStatus(env.DB, connectionId, "active");
}

/**
 * What re-sealing a connection's refresh token did: `resealed` with the current key; `unchanged`
 * (already sealed with it, no grant stored, or a refresh under way, which stores the rotated
 * token sealed with the current key); `unreadable`: no key of the ring opens it (left as it is).
 */
export type RefreshResealOutcome = "resealed" | "unchanged" | "unreadable";

/**
 * Seals an OAuth connection's refresh token, kept in its AcmeSession, again with the current key
 * of `keys` (key rotation). Never loses a token: the session swaps it only while it still holds
 * the one read and no refresh is under way. Two session calls at most.
 */
export async function resealRefreshToken(
  env: Env,
  keys: SecretKeyRing,
  connectionId: string,
): Promise<RefreshResealOutcome> {
  const session = acmeSessionStub(env, connectionId);
  const grant = await session.sealedRefreshToken();
  if (!grant) return "unchanged";
  let resealed: string | null;
  try {
    resealed = await keys.reseal(grant.refreshToken, refreshTokenContext(connectionId));
  } catch (error) {
    if (error instanceof SealedSecretError) return "unreadable";
    throw error;
  }
  if (resealed === null) return "unchanged";
  return (await session.replaceSealedRefreshToken(grant.refreshToken, resealed)) ? "resealed" : "unchanged";
}
