import { fromBase64Url, toBase64Url } from "./ids.ts";

// Secrets at rest (connection credentials, webhook signing secrets): AES-256-GCM with a 32-byte
// key, a random 96-bit IV per value, and the owning row's id as associated data, so a ciphertext
// cannot be moved to another row.
const VERSION = "v1";
const keys = new Map<string, Promise<CryptoKey>>();

function aesKey(encoded: string): Promise<CryptoKey> {
  let key = keys.get(encoded);
  if (!key) {
    key = crypto.subtle.importKey("raw", fromBase64Url(encoded), "AES-GCM", false, ["encrypt", "decrypt"]);
    keys.set(encoded, key);
  }
  return key;
}

export async function sealSecret(encodedKey: string, plaintext: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(context) },
    await aesKey(encodedKey),
    new TextEncoder().encode(plaintext),
  );
  return `${VERSION}.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(data))}`;
}

export async function openSecret(encodedKey: string, sealed: string, context: string): Promise<string> {
  const [version, iv, data] = sealed.split(".");
  if (version !== VERSION || !iv || !data) throw new Error("unknown sealed secret format");
  const plaintext = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64Url(iv), additionalData: new TextEncoder().encode(context) },
    await aesKey(encodedKey),
    fromBase64Url(data),
  );
  return new TextDecoder().decode(plaintext);
}
