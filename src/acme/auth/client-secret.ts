import { hmacSha256, timingSafeEqualBytes, toHex } from "../../lib/crypto.ts";

// Client secrets are stored as HMAC-SHA256(pepper, secret): a database leak alone reveals nothing
// usable, and the pepper lives in a Worker secret, not beside the hashes.
export async function hashClientSecret(pepper: string, secret: string): Promise<string> {
  return toHex(await hmacSha256(pepper, secret));
}

export async function verifyClientSecret(
  pepper: string,
  secret: string,
  storedHash: string,
): Promise<boolean> {
  const presented = await hmacSha256(pepper, secret);
  const stored = hexToBytes(storedHash);
  return stored !== null && timingSafeEqualBytes(presented, stored);
}

function hexToBytes(hex: string): Uint8Array | null {
  if (!/^(?:[0-9a-f]{2})+$/.test(hex)) return null;
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}
