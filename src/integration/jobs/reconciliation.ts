import { and, isNull, lt, or, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { type ConnectionRow, connections } from "../db/schema.ts";

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
 * that were made before it: at most `limit`, in random order, so connections that stay overdue
 * (an account Acme refuses) cannot keep the others out of a page run after run.
 */
export async function overdueConnections(db: D1Database, before: string, limit: number): Promise<string[]> {
  const rows = await drizzle(db)
    .select({ id: connections.id })
    .from(connections)
    .where(
      or(
        lt(connections.reconciledThrough, before),
        and(isNull(connections.reconciledThrough), lt(connections.createdAt, before)),
      ),
    )
    .orderBy(sql`random()`)
    .limit(limit);
  return rows.map((r) => r.id);
}
