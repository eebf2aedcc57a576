import { drizzle } from "drizzle-orm/d1";
import { type ConnectionRow, connections } from "../db/schema.ts";

/** Each reconciliation re-reads this much before the last checkpoint, against clock skew and slow commits. */
export const RECONCILE_OVERLAP_MS = 5 * 60_000;

/** Where a reconciliation of this connection starts reading Acme's changes; null: from the beginning. */
export function reconcileSince(connection: ConnectionRow): string | null {
  return connection.reconciledThrough
    ? new Date(Date.parse(connection.reconciledThrough) - RECONCILE_OVERLAP_MS).toISOString()
    : null;
}

/** Every connection, for the cron to start its reconciliation. */
export async function allConnections(db: D1Database): Promise<ConnectionRow[]> {
  return drizzle(db).select().from(connections).orderBy(connections.id);
}

/** Marks the connection reconciled through `through` (ISO), never moving the mark back. */
export async function markReconciled(db: D1Database, connectionId: string, through: string): Promise<void> {
  await db
    .prepare(
      `UPDATE connections SET reconciled_through = ?
       WHERE id = ? AND (reconciled_through IS NULL OR reconciled_through < ?)`,
    )
    .bind(through, connectionId, through)
    .run();
}
