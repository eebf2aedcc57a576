import { hmacSha256, toHex } from "./crypto.ts";

// Ids and keys that strangers send (a connection id in a webhook URL, an API key) carry a short
// HMAC tag keyed by a server secret, so a forged or random one is refused before any lookup:
// guessing a valid tag takes about 2^48 tries. The tag only makes refusal cheap; the lookup that
// follows still decides what a well-tagged value may do.
const TAG_HEX_CHARS = 12;

/** The tag of `body` under `key`: 12 lowercase hex characters (48 bits of HMAC-SHA-256). */
export async function idTag(key: string, body: string): Promise<string> {
  return toHex(await hmacSha256(key, body)).slice(0, TAG_HEX_CHARS);
}

/** `body` with its tag appended (`conn_01j…` becomes `conn_01j…3f9a0c…`). */
export async function withIdTag(key: string, body: string): Promise<string> {
  return body + (await idTag(key, body));
}

/**
 * Whether `value` ends with the tag of the rest of it under `key`, compared in constant time.
 * False for anything too short to carry a tag.
 */
export async function hasValidIdTag(key: string, value: string): Promise<boolean> {
  if (value.length <= TAG_HEX_CHARS) return false;
  const body = value.slice(0, -TAG_HEX_CHARS);
  const encoder = new TextEncoder();
  const given = encoder.encode(value.slice(-TAG_HEX_CHARS));
  const expected = encoder.encode(await idTag(key, body));
  return given.byteLength === expected.byteLength && crypto.subtle.timingSafeEqual(given, expected);
}
