import { drizzle } from "drizzle-orm/d1";
import { withIdTag } from "../../lib/id-tag.ts";
import { newId } from "../../lib/ids.ts";
import type { IntegrationConfig } from "../config.ts";
import { type ConnectionMethod, type ConnectionRow, connections } from "../db/schema.ts";
import { startJob } from "../jobs/start-job.ts";

/** A connection to store: the admin API's input, or what a connect session learned. */
export interface NewConnection {
  name: string;
  /** Acme's base URL for this connection; null for the deployment's default. */
  acmeBaseUrl: string | null;
  /** The account's client id (client credentials) or the account the OAuth grant acts on. */
  acmeClientId: string;
  /** The account's client secret (client credentials); null for an OAuth connection. */
  acmeClientSecret: string | null;
  method: ConnectionMethod;
  endUserId: string | null;
  /** The whsec_ secret of a subscription made at Acme by hand, if any. */
  acmeWebhookSecret?: string | undefined;
}

/**
 * Stores a new connection: its id tagged with the deployment's ID_TAG_KEY (so the webhook receiver
 * refuses ids nobody minted without reading D1), its secrets sealed with the current key. Status
 * `active`. One D1 write; returns the row. Starts nothing: callers start the backfill
 * (`startBackfill`) once the connection can reach Acme.
 */
export async function createConnection(
  db: D1Database,
  config: Pick<IntegrationConfig, "secretKeys" | "idTagKey">,
  input: NewConnection,
): Promise<ConnectionRow> {
  const { secretKeys, idTagKey } = config;
  const id = await withIdTag(idTagKey, newId("conn"));
  const row: ConnectionRow = {
    id,
    name: input.name,
    acmeBaseUrl: input.acmeBaseUrl,
    acmeClientId: input.acmeClientId,
    acmeClientSecretEnc:
      input.acmeClientSecret === null ? null : await secretKeys.seal(input.acmeClientSecret, id),
    method: input.method,
    endUserId: input.endUserId,
    status: "active",
    webhookSecretEnc: input.acmeWebhookSecret
      ? await secretKeys.seal(input.acmeWebhookSecret, `${id}:webhook`)
      : null,
    webhookSubscriptionId: null,
    reconciledThrough: null,
    scheduleCheckedAt: null,
    createdAt: new Date().toISOString(),
  };
  await drizzle(db).insert(connections).values(row);
  return row;
}

/**
 * Starts a new connection's backfill job, so its mirror and change feed start from everything
 * already at Acme. Throws what startJob throws.
 */
export async function startBackfill(env: Env, connectionId: string): Promise<void> {
  await startJob(env, { connectionId, kind: "backfill" });
}
