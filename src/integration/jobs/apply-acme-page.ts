import type { IntegrationConfig } from "../config.ts";
import type { AcmeContact } from "../contacts/acme-contact-schema.ts";
import { fromAcme } from "../contacts/mapping.ts";
import type { Contact } from "../contacts/schemas.ts";
import { applyChanges, type IncomingChange } from "../feed/apply-change.ts";
import type { ChangeType } from "../feed/change-types.ts";

interface MirrorVersion {
  contact_id: string;
  version: number;
  data: string;
}

/**
 * Applies one page of Acme's contacts (a backfill's or a reconciliation's) to the mirror and the
 * feed: every contact whose Acme version is newer than the mirror's becomes a change with this
 * `source`. Returns how many were appended to the feed. Two round trips to D1 per page, each
 * binding the whole page as one JSON parameter (so a page of any size stays within D1's
 * 100-parameter limit): the mirror lookup, and one batch applying the page's changes. Applying a change
 * is idempotent per contact version, so a page applied twice changes nothing the second time.
 */
export async function applyAcmePage(
  env: Env,
  config: IntegrationConfig,
  connectionId: string,
  contacts: AcmeContact[],
  source: "backfill" | "reconciliation",
): Promise<number> {
  if (contacts.length === 0) return 0;
  const { results } = await env.DB.prepare(
    `SELECT contact_id, version, data FROM contact_mirror
     WHERE connection_id = ? AND contact_id IN (SELECT value FROM json_each(?))`,
  )
    .bind(connectionId, JSON.stringify(contacts.map((c) => c.id)))
    .all<MirrorVersion>();
  const byId = new Map(results.map((m) => [m.contact_id, m]));
  const changes: IncomingChange[] = [];
  for (const acmeContact of contacts) {
    const known = byId.get(acmeContact.id);
    if (known && known.version >= acmeContact.acme_version) continue;
    const deletedAt = acmeContact.acme_deleted_at ?? null;
    const type: ChangeType = deletedAt ? "contact.deleted" : known ? "contact.updated" : "contact.created";
    changes.push({
      connectionId,
      eventId: `${source === "backfill" ? "bf" : "rec"}_${acmeContact.id}_v${acmeContact.acme_version}`,
      type,
      occurredAt: acmeContact.acme_updated_at,
      contact: fromAcme(acmeContact) as Contact,
      previous: known ? (JSON.parse(known.data) as Contact) : null,
      deletedAt,
      source,
    });
  }
  return applyChanges(env, changes, { cacheTtlSeconds: config.cacheTtlSeconds });
}
