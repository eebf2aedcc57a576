import { type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { D1_MAX_BATCH_STATEMENTS } from "./d1-limits.ts";
import type { SecretKeyRing } from "./secret-box.ts";

/**
 * The most rows one re-seal call takes: each changed row is one UPDATE in one batch, so a call
 * makes at most this many queries plus a read and a count (D1: 1,000 per invocation).
 */
export const RESEAL_BATCH_MAX = D1_MAX_BATCH_STATEMENTS;

/** What one call of a bounded re-seal did and what is left. */
export interface ResealReport {
  /** Rows whose sealed values now use the current key. */
  resealed: number;
  /** Rows examined whose values no key of the ring opens; left as they are. */
  unreadable: number;
  /** Rows still holding a value not sealed with the current key, after this call (unreadable ones included). */
  remaining: number;
  /** The last row id examined, to pass as `after` to go on; null when the scan reached the end. */
  next: string | null;
  /** The id of the current key, which every re-sealed value names. */
  keyId: string;
}

/**
 * SQL true when `column` holds a value not sealed with the current key, whose sealed values start
 * with `currentPrefix` (a NULL column is not stale). Binds two values.
 */
export function sealedWithOtherKey(column: SQLiteColumn, currentPrefix: string): SQL {
  return sql`(${column} IS NOT NULL AND substr(${column}, 1, ${currentPrefix.length}) <> ${currentPrefix})`;
}

/**
 * The end of one re-seal call, the same for every table: runs its conditional UPDATEs (each
 * `RETURNING` the row it changed) in one D1 batch, then counts what is still stale, and reports.
 * `page` is the ids the call examined (in order), `limit` the most it could examine.
 */
export async function finishReseal(
  db: DrizzleD1Database,
  updates: BatchItem<"sqlite">[],
  countStale: () => Promise<number>,
  call: { page: { id: string }[]; limit: number; unreadable: number; keys: SecretKeyRing },
): Promise<ResealReport> {
  const [first, ...rest] = updates;
  const written = (first ? await db.batch([first, ...rest]) : []) as unknown[][];
  return {
    resealed: written.reduce((sum, changed) => sum + changed.length, 0),
    unreadable: call.unreadable,
    remaining: await countStale(),
    next: call.page.length === call.limit ? (call.page.at(-1)?.id ?? null) : null,
    keyId: await call.keys.currentKeyId(),
  };
}
