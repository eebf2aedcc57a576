import { createLocalJWKSet, importJWK, type JWK, type JWTPayload, jwtVerify, SignJWT } from "jose";
import { newId } from "../../lib/ids.ts";
import type { AcmeConfig, PrivateJwk } from "../config.ts";

export const ACCESS_TOKEN_ALG = "ES256";
export const ACCESS_TOKEN_TYP = "at+jwt";

/**
 * How far in the future a token's `iat` may lie (an issuer clock running ahead), in seconds.
 * Further than that, the token was not issued by a sane clock and is refused.
 */
export const MAX_CLOCK_SKEW_SECONDS = 60;

export interface AccessTokenClaims extends JWTPayload {
  sub: string;
  client_id: string;
  scope: string;
  jti: string;
  /** The grant a token of the authorization-code grant belongs to; absent for client credentials. */
  grant?: string;
}

export interface IssuedToken {
  accessToken: string;
  expiresIn: number;
  scope: string;
}

export function publicJwk(key: PrivateJwk): JWK {
  const { d: _private, ...rest } = key;
  return { ...rest, alg: ACCESS_TOKEN_ALG, use: "sig" };
}

const signingKeys = new Map<string, Promise<CryptoKey | Uint8Array>>();
const verifyKeySets = new Map<string, ReturnType<typeof createLocalJWKSet>>();

function signingKey(jwk: PrivateJwk) {
  let key = signingKeys.get(jwk.d);
  if (!key) {
    key = importJWK(jwk, ACCESS_TOKEN_ALG);
    signingKeys.set(jwk.d, key);
  }
  return key;
}

function verifyKeySet(jwk: PrivateJwk) {
  let set = verifyKeySets.get(jwk.x + jwk.y);
  if (!set) {
    set = createLocalJWKSet({ keys: [publicJwk(jwk)] });
    verifyKeySets.set(jwk.x + jwk.y, set);
  }
  return set;
}

/**
 * An ES256 access token for `clientId` with `scope`, living ACME_TOKEN_TTL_SECONDS from `now` (ms).
 * `subject` is the account it acts for (the client itself for client credentials; the approving
 * user's account for an app, which also names its `grant`).
 */
export async function issueAccessToken(
  config: AcmeConfig,
  clientId: string,
  scope: string,
  now: number = Date.now(),
  onBehalf?: { subject: string; grant: string },
): Promise<IssuedToken> {
  const iat = Math.floor(now / 1000);
  const accessToken = await new SignJWT({
    client_id: clientId,
    scope,
    ...(onBehalf ? { grant: onBehalf.grant } : {}),
  })
    .setProtectedHeader({ alg: ACCESS_TOKEN_ALG, typ: ACCESS_TOKEN_TYP, kid: config.signingKey.kid })
    .setIssuer(config.issuer)
    .setAudience(config.audience)
    .setSubject(onBehalf?.subject ?? clientId)
    .setIssuedAt(iat)
    .setExpirationTime(iat + config.tokenTtlSeconds)
    .setJti(newId("at", now))
    .sign(await signingKey(config.signingKey));
  return { accessToken, expiresIn: config.tokenTtlSeconds, scope };
}

/**
 * Verifies signature (ES256 only: `none`, HS256 and foreign keys are refused), `typ`, issuer,
 * audience, expiry, and an `iat` no more than MAX_CLOCK_SKEW_SECONDS ahead of `now` (ms).
 * Throws jose's errors (or an Error); callers map every failure to `invalid_token`.
 */
export async function verifyAccessToken(
  config: AcmeConfig,
  token: string,
  now: number = Date.now(),
): Promise<AccessTokenClaims> {
  const { payload } = await jwtVerify(token, verifyKeySet(config.signingKey), {
    algorithms: [ACCESS_TOKEN_ALG],
    typ: ACCESS_TOKEN_TYP,
    issuer: config.issuer,
    audience: config.audience,
    currentDate: new Date(now),
    clockTolerance: 0,
    requiredClaims: ["sub", "client_id", "scope", "jti", "exp", "iat"],
  });
  if (
    typeof payload.client_id !== "string" ||
    typeof payload.scope !== "string" ||
    (payload.grant !== undefined && typeof payload.grant !== "string")
  ) {
    throw new Error("malformed claims");
  }
  // jose checks `iat` against the clock only together with a maximum token age; this is that
  // check alone, with its own tolerance (expiry keeps none).
  if ((payload.iat ?? 0) > Math.floor(now / 1000) + MAX_CLOCK_SKEW_SECONDS) {
    throw new Error("token issued in the future");
  }
  return payload as AccessTokenClaims;
}
