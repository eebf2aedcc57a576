// PKCE (RFC 7636), S256 only, for both sides: the integration's connect flow makes a verifier and
// sends its challenge; Acme checks the verifier at its token endpoint.
import { randomSecret, toBase64Url } from "./ids.ts";

/** RFC 7636 4.1: 43 to 128 unreserved characters (also the shape of an S256 challenge). */
export const PKCE_VALUE = /^[A-Za-z0-9\-._~]{43,128}$/;

/** A new code_verifier (RFC 7636 4.1): 32 random bytes, base64url (43 characters). */
export function newCodeVerifier(): string {
  return randomSecret(32);
}

/** The S256 code_challenge of `verifier` (RFC 7636 4.2): BASE64URL(SHA-256(verifier)). */
export async function s256Challenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return toBase64Url(new Uint8Array(digest));
}
