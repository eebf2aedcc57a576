import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { openSecret } from "../../lib/secret-box.ts";
import { connections } from "../db/schema.ts";

/** Webhook secrets per connection, remembered per isolate briefly: webhooks come in bursts. */
const CACHE_MS = 30_000;
const cache = new Map<string, { secret: string | null; until: number }>();

export function forgetConnection(connectionId: string): void {
  cache.delete(connectionId);
}

/** The connection's webhook signing secret; null for an unknown connection or one without. */
export async function webhookSecretFor(
  env: Env,
  encryptionKey: string,
  connectionId: string,
): Promise<string | null> {
  const now = Date.now();
  const hit = cache.get(connectionId);
  if (hit && hit.until > now) return hit.secret;
  const row = await drizzle(env.DB)
    .select({ webhookSecretEnc: connections.webhookSecretEnc })
    .from(connections)
    .where(eq(connections.id, connectionId))
    .get();
  const secret = row?.webhookSecretEnc
    ? await openSecret(encryptionKey, row.webhookSecretEnc, `${connectionId}:webhook`)
    : null;
  cache.set(connectionId, { secret, until: now + CACHE_MS });
  return secret;
}
