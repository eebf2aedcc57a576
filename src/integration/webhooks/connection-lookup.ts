import { ExpiringMap } from "../../lib/expiring-map.ts";
import { openSecret } from "../../lib/secret-box.ts";
import { findSealedWebhookSecret } from "../connections/connection-store.ts";

/** Webhook secrets per connection (null: none), kept per isolate for CACHE_MS: webhooks come in bursts. */
const CACHE_MS = 30_000;
const cache = new ExpiringMap<string, string | null>(10_000);

export function forgetConnection(connectionId: string): void {
  cache.delete(connectionId);
}

/** The connection's webhook signing secret; null for an unknown connection or one without. */
export async function webhookSecretFor(
  env: Env,
  encryptionKey: string,
  connectionId: string,
): Promise<string | null> {
  const remembered = cache.get(connectionId);
  if (remembered !== undefined) return remembered;
  const sealed = await findSealedWebhookSecret(env.DB, connectionId);
  const secret = sealed ? await openSecret(encryptionKey, sealed, `${connectionId}:webhook`) : null;
  cache.set(connectionId, secret, CACHE_MS);
  return secret;
}
