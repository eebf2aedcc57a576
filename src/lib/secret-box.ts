import { fromBase64Url, toBase64Url } from "./ids.ts";

// Secrets at rest (connection credentials, webhook signing secrets): AES-256-GCM with a 32-byte
// key, a random 96-bit IV per value, and the owning row's id as associated data, so a ciphertext
// cannot be moved to another row. A sealed value names the key that sealed it
// (`v2.<key id>.<iv>.<ciphertext>`), so keys rotate: new values are sealed with the ring's first
// key and values sealed with any other key of the ring still open. Values sealed before keys had
// ids (`v1.<iv>.<ciphertext>`) open with the ring's legacy keys, tried in order.
const VERSION = "v2";
const LEGACY_VERSION = "v1";
const encoder = new TextEncoder();

/** A 32-byte key, base64url without padding: what ENCRYPTION_KEYS and ACME_SECRET_KEYS list. */
export const SECRET_KEY_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const aesKeys = new Map<string, Promise<CryptoKey>>();

function aesKey(encoded: string): Promise<CryptoKey> {
  let key = aesKeys.get(encoded);
  if (!key) {
    key = crypto.subtle.importKey("raw", fromBase64Url(encoded), "AES-GCM", false, ["encrypt", "decrypt"]);
    aesKeys.set(encoded, key);
  }
  return key;
}

/**
 * A key's id in sealed values: the first 8 base64url characters of SHA-256 over a label and the
 * key. It tells keys apart and says nothing usable about the key.
 */
export async function secretKeyId(encodedKey: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    encoder.encode(`acme-bridge secret key id\n${encodedKey}`),
  );
  return toBase64Url(new Uint8Array(digest)).slice(0, 8);
}

async function encrypt(encodedKey: string, iv: Uint8Array, plaintext: string, context: string) {
  const data = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: encoder.encode(context) },
    await aesKey(encodedKey),
    encoder.encode(plaintext),
  );
  return toBase64Url(new Uint8Array(data));
}

async function decrypt(encodedKey: string, iv: string, data: string, context: string): Promise<string> {
  const plaintext = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: fromBase64Url(iv), additionalData: encoder.encode(context) },
    await aesKey(encodedKey),
    fromBase64Url(data),
  );
  return new TextDecoder().decode(plaintext);
}

/** Thrown when a sealed value is malformed, names a key not in the ring, or fails to decrypt. */
export class SealedSecretError extends Error {
  override name = "SealedSecretError";
}

/**
 * The keys secrets at rest are sealed with: the first seals, every one opens. Built once per
 * configuration (keys are imported once per isolate). `legacyKeys` open values of the format
 * before key ids (v1), tried in order; they default to the ring's own keys.
 */
export class SecretKeyRing {
  readonly keys: readonly string[];
  private readonly legacyKeys: readonly (string | PromiseLike<string>)[];
  private ids: Promise<string[]> | undefined;

  /** Throws a RangeError for an empty ring or a key that is not 32 bytes of base64url. */
  constructor(
    keys: readonly string[],
    options: { legacyKeys?: readonly (string | PromiseLike<string>)[] } = {},
  ) {
    if (keys.length === 0) throw new RangeError("a key ring needs at least one key");
    for (const key of keys) {
      if (!SECRET_KEY_PATTERN.test(key))
        throw new RangeError("a ring key must be 32 bytes, base64url without padding");
    }
    this.keys = [...keys];
    this.legacyKeys = options.legacyKeys ?? keys;
  }

  /** A ring from a comma-separated list (spaces around commas ignored), as the env vars hold it. */
  static fromList(list: string, options?: { legacyKeys?: readonly (string | PromiseLike<string>)[] }) {
    return new SecretKeyRing(
      list
        .split(",")
        .map((key) => key.trim())
        .filter((key) => key !== ""),
      options,
    );
  }

  private keyIds(): Promise<string[]> {
    this.ids ??= Promise.all(this.keys.map(secretKeyId));
    return this.ids;
  }

  /** The id of the key new values are sealed with. */
  async currentKeyId(): Promise<string> {
    return (await this.keyIds())[0] as string;
  }

  /** What every value sealed with the current key starts with (`v2.<key id>.`). */
  async currentPrefix(): Promise<string> {
    return `${VERSION}.${await this.currentKeyId()}.`;
  }

  /** `plaintext` sealed with the current key, bound to `context` (the owning row's id). */
  async seal(plaintext: string, context: string): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const [key] = this.keys as [string];
    return `${await this.currentPrefix()}${toBase64Url(iv)}.${await encrypt(key, iv, plaintext, context)}`;
  }

  /**
   * The plaintext of a value sealed with any key of the ring (or a legacy key, for v1 values)
   * under the same `context`. Throws SealedSecretError when the format is unknown, the value
   * names a key no longer in the ring, or it does not decrypt (wrong key, context or tampering).
   */
  async open(sealed: string, context: string): Promise<string> {
    const parts = sealed.split(".");
    if (parts[0] === VERSION && parts.length === 4) {
      const [, keyId, iv, data] = parts as [string, string, string, string];
      const index = (await this.keyIds()).indexOf(keyId);
      const key = this.keys[index];
      if (key === undefined)
        throw new SealedSecretError(`sealed with key ${keyId}, which is not in the ring`);
      return decrypt(key, iv, data, context).catch(() => {
        throw new SealedSecretError(`a value sealed with key ${keyId} does not decrypt`);
      });
    }
    if (parts[0] === LEGACY_VERSION && parts.length === 3) {
      const [, iv, data] = parts as [string, string, string];
      for (const candidate of this.legacyKeys) {
        try {
          return await decrypt(await candidate, iv, data, context);
        } catch {
          // Not this key: AES-GCM authenticates, so a wrong key fails rather than yielding garbage.
        }
      }
      throw new SealedSecretError("a value in the format before key ids opens with no legacy key");
    }
    throw new SealedSecretError("unknown sealed secret format");
  }

  /** Whether `sealed` is already sealed with the current key (nothing to re-seal). */
  async isCurrent(sealed: string): Promise<boolean> {
    return sealed.startsWith(await this.currentPrefix());
  }

  /**
   * `sealed` opened and sealed again with the current key, or null when it already is. Throws
   * as {@link open} does.
   */
  async reseal(sealed: string, context: string): Promise<string | null> {
    if (await this.isCurrent(sealed)) return null;
    return this.seal(await this.open(sealed, context), context);
  }
}
