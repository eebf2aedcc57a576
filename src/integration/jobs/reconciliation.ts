import type { ConnectionRow } from "../db/schema.ts";

/** Each reconciliation re-reads this much before the last checkpoint, against clock skew and slow commits. */
export const RECONCILE_OVERLAP_MS = 5 * 60_000;

/** Where a reconciliation of this connection starts reading Acme's changes; null: from the beginning. */
export function reconcileSince(connection: Pick<ConnectionRow, "reconciledThrough">): string | null {
  return connection.reconciledThrough
    ? new Date(Date.parse(connection.reconciledThrough) - RECONCILE_OVERLAP_MS).toISOString()
    : null;
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

/**
 * Ids of connections whose last reconciliation finished before `before` (ISO), or never did and
 * that were made before it: at most `limit`, those the sweep checked longest ago (or never)
 * first, and marks them checked at `now` in the same batch, so the next run takes the next ones
 * and connections that stay overdue (an account Acme refuses) cannot keep the others out.
 * One D1 statement, whatever `limit`.
 */
export async function takeOverdueConnections(
  db: D1Database,
  before: string,
  limit: number,
  now: Date,
): Promise<string[]> {
  const taken = await db
    .prepare(
      `UPDATE connections SET schedule_checked_at = ?1
       WHERE id IN (
         SELECT id FROM connections
         WHERE reconciled_through < ?2 OR (reconciled_through IS NULL AND created_at < ?2)
         ORDER BY schedule_checked_at IS NOT NULL, schedule_checked_at, id
         LIMIT ?3)
       RETURNING id`,
    )
    .bind(now.toISOString(), before, limit)
    .all<{ id: string }>();
  return taken.results.map((r) => r.id);
}
