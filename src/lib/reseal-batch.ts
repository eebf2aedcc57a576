import { type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { D1_MAX_BATCH_STATEMENTS } from "./d1-limits.ts";

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
