import { ExpiringMap } from "../../lib/expiring-map.ts";
import type { SecretKeyRing } from "../../lib/secret-box.ts";
import { findSealedWebhookSecret } from "../connections/connection-store.ts";

/** Webhook secrets per connection (null: none), kept per isolate for CACHE_MS: webhooks come in bursts. */
const CACHE_MS = 30_000;
const cache = new ExpiringMap<string, string | null>(10_000);

/** Drops the connection's cached secret, so the next webhook reads the one just stored or removed. */
export function forgetWebhookSecret(connectionId: string): void {
  cache.delete(connectionId);
}

/**
 * The connection's webhook signing secret, from this isolate's cache or else from D1 (decrypted);
 * null for an unknown connection or one without. Throws when the stored secret will not decrypt.
 */
export async function cachedWebhookSecret(
  env: Env,
  secretKeys: SecretKeyRing,
  connectionId: string,
): Promise<string | null> {
  const remembered = cache.get(connectionId);
  if (remembered !== undefined) return remembered;
  const sealed = await findSealedWebhookSecret(env.DB, connectionId);
  const secret = sealed ? await secretKeys.open(sealed, `${connectionId}:webhook`) : null;
  cache.set(connectionId, secret, CACHE_MS);
  return secret;
}
