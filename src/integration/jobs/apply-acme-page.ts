import type { IntegrationConfig } from "../config.ts";
import { connectionData } from "../connection-data/stub.ts";
import type { AcmeContact } from "../contacts/acme-contact-schema.ts";
import { invalidateCopies } from "../feed/invalidate-copies.ts";

/**
 * Applies one page of Acme's contacts (a backfill's or a reconciliation's) to the connection's
 * mirror and feed in its object (one call: the mirror lookup and the set-based apply run there,
 * in one transaction), then drops the cached copies of the changed contacts that may be cached.
 * Returns how many were appended to the feed, and how many copies were invalidated. Applying a
 * change is idempotent per contact version, so a page applied twice changes nothing the second time.
 */
export async function applyAcmePage(
  env: Env,
  config: IntegrationConfig,
  connectionId: string,
  contacts: AcmeContact[],
  source: "backfill" | "reconciliation",
): Promise<{ appended: number; invalidated: number }> {
  if (contacts.length === 0) return { appended: 0, invalidated: 0 };
  const { appended, invalidate } = await connectionData(env, connectionId).applyAcmePage(
    connectionId,
    contacts,
    source,
  );
  await invalidateCopies(env, connectionId, config.cacheTtlSeconds, invalidate);
  return { appended, invalidated: invalidate.length };
}
