import { webcrypto } from "node:crypto";

function randomToken(bytes: number): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(bytes))).toString("base64url");
}

/**
 * Fresh secrets for one environment: Acme's signing key, pepper, key ring and admin token; the
 * integration's admin token, key ring (one key), id tag key, and the secret of its app at Acme
 * (ACME_OAUTH_CLIENT_SECRET; the demo seed registers the app with it).
 */
export async function generateSecrets(): Promise<Record<string, string>> {
  const pair = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const jwk = await webcrypto.subtle.exportKey("jwk", pair.privateKey);
  const kid = `acme-${new Date().toISOString().slice(0, 10)}-${randomToken(4)}`;
  return {
    ACME_JWT_PRIVATE_KEY: JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, d: jwk.d, kid }),
    ACME_CLIENT_SECRET_PEPPER: randomToken(32),
    ACME_SECRET_KEYS: randomToken(32),
    ACME_ADMIN_TOKEN: `adm_${randomToken(24)}`,
    ADMIN_TOKEN: `adm_${randomToken(24)}`,
    ENCRYPTION_KEYS: randomToken(32),
    ID_TAG_KEY: randomToken(32),
    ACME_OAUTH_CLIENT_SECRET: `acs_${randomToken(32)}`,
  };
}
