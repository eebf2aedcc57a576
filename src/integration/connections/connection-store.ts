import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { type ConnectionRow, type ConnectionStatus, connections } from "../db/schema.ts";
import { ApiError } from "../errors.ts";

/**
 * A connection's row by id, its Acme client secret and webhook secret still sealed (open them
 * with lib/secret-box.ts); null when there is no such connection.
 */
export async function findConnection(db: D1Database, id: string): Promise<ConnectionRow | null> {
  return (await drizzle(db).select().from(connections).where(eq(connections.id, id)).get()) ?? null;
}

/**
 * A connection's row by id, as findConnection reads it. Throws ApiError `not_found` (404) when
 * there is no such connection.
 */
export async function requireConnection(db: D1Database, id: string): Promise<ConnectionRow> {
  const connection = await findConnection(db, id);
  if (!connection) throw new ApiError("not_found", `Connection ${id} does not exist.`);
  return connection;
}

/**
 * Only the sealed webhook secret of a connection (what every incoming webhook needs): a string,
 * null for a connection without one, undefined for no such connection.
 */
export async function findSealedWebhookSecret(
  db: D1Database,
  id: string,
): Promise<string | null | undefined> {
  const row = await drizzle(db)
    .select({ webhookSecretEnc: connections.webhookSecretEnc })
    .from(connections)
    .where(eq(connections.id, id))
    .get();
  return row?.webhookSecretEnc;
}

/**
 * Where Acme must send a connection's webhooks (the receiver route `/webhooks/acme/{connectionId}`),
 * given the deployment's public origin without a trailing slash (`https://bridge.example`).
 */
export function connectionWebhookUrl(origin: string, connectionId: string): string {
  return `${origin}/webhooks/acme/${connectionId}`;
}

/**
 * Sets a connection's `status` in D1 (the copy the admin list and the console read; the
 * connection's AcmeSession decides). Returns false when there is no such connection.
 */
export async function setConnectionStatus(
  db: D1Database,
  id: string,
  status: ConnectionStatus,
): Promise<boolean> {
  const row = await drizzle(db)
    .update(connections)
    .set({ status })
    .where(eq(connections.id, id))
    .returning({ id: connections.id })
    .get();
  return row !== undefined;
}
