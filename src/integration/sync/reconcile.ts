import { and, eq, inArray } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { errorFields, log } from "../../lib/logger.ts";
import { AcmeContactPageSchema, parseAcme } from "../acme-client/acme-contact.ts";
import { acmeProblem } from "../acme-client/acme-errors.ts";
import { createAcmeClient } from "../acme-client/create-acme-client.ts";
import type { AcmeTransport } from "../acme-client/transport.ts";
import { type IntegrationConfig, loadIntegrationConfig } from "../config.ts";
import { fromAcme } from "../contacts/mapping.ts";
import type { Contact } from "../contacts/schemas.ts";
import type { RequestStats } from "../context.ts";
import { type ConnectionRow, connections, contactMirror } from "../db/schema.ts";
import { applyChange, type ChangeType } from "./apply-change.ts";

/** Each run re-reads this much before the last checkpoint, against clock skew and slow commits. */
const OVERLAP_MS = 5 * 60_000;
const PAGE_SIZE = 100;

export interface ReconcileResult {
  connectionId: string;
  scanned: number;
  repaired: number;
}

/**
 * Pulls one connection's Acme changes since its checkpoint and repairs what webhooks missed:
 * every contact whose Acme version is newer than the mirror's is applied as a change marked
 * `reconciliation`. The checkpoint moves to the run's start only when the whole pull succeeded.
 */
export async function reconcileConnection(
  env: Env,
  config: IntegrationConfig,
  connection: ConnectionRow,
  inProcess: AcmeTransport,
  now = new Date(),
): Promise<ReconcileResult> {
  const stats: RequestStats = { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 };
  // Background priority: its own, longer deadline, and never more than its share of Acme's
  // rate limit, so interactive calls keep room.
  const client = createAcmeClient(env, config, connection, { inProcess, stats, priority: "background" });
  const db = drizzle(env.DB);
  const since = connection.reconciledThrough
    ? new Date(Date.parse(connection.reconciledThrough) - OVERLAP_MS).toISOString()
    : undefined;
  let after: string | undefined;
  let scanned = 0;
  let repaired = 0;
  do {
    // Each page gets the background deadline afresh: a large backfill is many calls, not one.
    const response = await client.send({
      method: "GET",
      path: "/v1/contacts",
      query: { limit: String(PAGE_SIZE), after, updated_since: since, include_deleted: "true" },
    });
    if (response.status !== 200)
      throw acmeProblem(response.status, response.body, response.headers, (f) => f);
    const page = parseAcme(AcmeContactPageSchema, response.body);
    scanned += page.results.length;
    const ids = page.results.map((c) => c.id);
    const mirrored = ids.length
      ? await db
          .select()
          .from(contactMirror)
          .where(and(eq(contactMirror.connectionId, connection.id), inArray(contactMirror.contactId, ids)))
      : [];
    const byId = new Map(mirrored.map((m) => [m.contactId, m]));
    for (const acmeContact of page.results) {
      const known = byId.get(acmeContact.id);
      if (known && known.version >= acmeContact.acme_version) continue;
      const deletedAt = acmeContact.acme_deleted_at ?? null;
      const type: ChangeType = deletedAt ? "contact.deleted" : known ? "contact.updated" : "contact.created";
      await applyChange(
        env,
        {
          connectionId: connection.id,
          eventId: `rec_${acmeContact.id}_v${acmeContact.acme_version}`,
          type,
          occurredAt: acmeContact.acme_updated_at,
          contact: fromAcme(acmeContact) as Contact,
          previous: known ? (JSON.parse(known.data) as Contact) : null,
          deletedAt,
          source: "reconciliation",
        },
        { cacheTtlSeconds: config.cacheTtlSeconds },
      );
      repaired += 1;
    }
    after = page.paging?.next.after;
  } while (after);
  await db
    .update(connections)
    .set({ reconciledThrough: now.toISOString() })
    .where(eq(connections.id, connection.id));
  return { connectionId: connection.id, scanned, repaired };
}

/** Cron: reconciles every connection; one failing connection does not stop the others. */
export async function reconcileAll(
  env: Env,
  inProcess: AcmeTransport,
  now = new Date(),
): Promise<ReconcileResult[]> {
  const config = loadIntegrationConfig(env);
  const rows = await drizzle(env.DB).select().from(connections).orderBy(connections.id);
  const results: ReconcileResult[] = [];
  for (const connection of rows) {
    try {
      results.push(await reconcileConnection(env, config, connection, inProcess, now));
    } catch (error) {
      log("warn", "reconciliation failed for a connection", {
        connectionId: connection.id,
        ...errorFields(error),
      });
    }
  }
  return results;
}
