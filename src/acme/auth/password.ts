import { timingSafeEqualBytes } from "../../lib/crypto.ts";
import { fromBase64Url, toBase64Url } from "../../lib/ids.ts";

/** PBKDF2-SHA256 iterations: the most WebCrypto in Workers allows. */
export const PASSWORD_ITERATIONS = 100_000;
/** Allowed password lengths, in characters. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 200;

const SALT_BYTES = 16;
const HASH_BITS = 256;
const encoder = new TextEncoder();

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    key,
    HASH_BITS,
  );
  return new Uint8Array(bits);
}

/** `pbkdf2-sha256$<iterations>$<salt>$<hash>` (base64url) of a password, with a fresh 16-byte salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, salt, PASSWORD_ITERATIONS);
  return `pbkdf2-sha256$${PASSWORD_ITERATIONS}$${toBase64Url(salt)}$${toBase64Url(hash)}`;
}

// Hashed for unknown emails, so a sign-in takes as long whether or not the user exists.
const DUMMY_HASH = `pbkdf2-sha256$${PASSWORD_ITERATIONS}$${toBase64Url(new Uint8Array(SALT_BYTES))}$${toBase64Url(new Uint8Array(32))}`;

/**
 * Whether `password` matches a stored hash (compared in constant time). A missing or malformed
 * hash is still worked through once with the same cost, and answers false.
 */
export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  const parts = (stored ?? DUMMY_HASH).split("$");
  const iterations = Number(parts[1]);
  let salt: Uint8Array;
  let expected: Uint8Array;
  try {
    salt = fromBase64Url(parts[2] ?? "");
    expected = fromBase64Url(parts[3] ?? "");
  } catch {
    await derive(password, new Uint8Array(SALT_BYTES), PASSWORD_ITERATIONS);
    return false;
  }
  const wellFormed =
    parts.length === 4 &&
    parts[0] === "pbkdf2-sha256" &&
    Number.isInteger(iterations) &&
    iterations >= 1 &&
    iterations <= PASSWORD_ITERATIONS &&
    expected.byteLength === HASH_BITS / 8;
  const actual = await derive(password, salt, wellFormed ? iterations : PASSWORD_ITERATIONS);
  return wellFormed && stored !== null && timingSafeEqualBytes(actual, expected);
}
