import { hmacSha256, sha256Hex } from "../../lib/crypto.ts";
import { hasValidIdTag, withIdTag } from "../../lib/id-tag.ts";
import { randomSecret, toBase64Url } from "../../lib/ids.ts";

// A connect session's secrets. The token (in the link) is random and tagged with ID_TAG_KEY, so a
// token this deployment never minted is refused before any D1 read; D1 keeps only its hash. The
// OAuth `state` and the form's CSRF token are derived from the token with the same key, so the page
// can be rendered again without storing them in the clear (D1 keeps the state's hash only).

/** What every connect session token starts with. */
export const CONNECT_TOKEN_PREFIX = "cst_";

/** The longest token accepted in a path: prefix, 43 base64url characters, 12 hex tag characters. */
const TOKEN_SHAPE = /^cst_[A-Za-z0-9_-]{43}[0-9a-f]{12}$/;

/** A new session token: `cst_` + 32 random bytes (base64url) + its tag under `idTagKey`. */
export function mintConnectToken(idTagKey: string): Promise<string> {
  return withIdTag(idTagKey, randomSecret(32, CONNECT_TOKEN_PREFIX));
}

/** Whether `token` has a token's shape and carries this deployment's tag (no storage read). */
export async function isOurConnectToken(idTagKey: string, token: string): Promise<boolean> {
  return TOKEN_SHAPE.test(token) && (await hasValidIdTag(idTagKey, token));
}

/** The SHA-256 (hex) a secret is stored and looked up by. */
export function secretHash(secret: string): Promise<string> {
  return sha256Hex(secret);
}

/** The OAuth `state` of the session behind `token` (43 base64url characters). */
export async function stateFor(idTagKey: string, token: string): Promise<string> {
  return toBase64Url(await hmacSha256(idTagKey, `connect-state:${token}`));
}

/** The client-credentials form's CSRF token: bound to the session's token and the browser's cookie nonce. */
export async function formTokenFor(idTagKey: string, token: string, nonce: string): Promise<string> {
  return toBase64Url(await hmacSha256(idTagKey, `connect-form:${token}:${nonce}`));
}
