import { type AnyColumn, type SQL, sql } from "drizzle-orm";

/**
 * The SQL condition "`column` (or JSON text) contains `text`", case-insensitive for ASCII. instr,
 * not LIKE: D1 refuses LIKE patterns over 50 bytes, and `text` needs no escaping (`%`, `_` are
 * plain characters).
 */
export function containsText(column: AnyColumn | SQL, text: string): SQL {
  return sql`instr(lower(${column}), lower(${text})) > 0`;
}
