import { type SQL, sql } from "drizzle-orm";

/**
 * The most values one D1 statement may bind: "Maximum bound parameters per query: 100"
 * (https://developers.cloudflare.com/d1/platform/limits/). A statement that binds more fails
 * with `too many SQL variables`, locally too. Count every bound value: a multi-row INSERT of rows
 * with k columns binds k per row, and an `IN (...)` list binds one per item on top of the rest.
 */
export const D1_MAX_BOUND_PARAMETERS = 100;

/**
 * The most queries one Worker invocation may make on Workers Paid: "Queries per Worker invocation:
 * 1000 (Workers Paid) / 50 (Free)" (https://developers.cloudflare.com/d1/platform/limits/). Each
 * statement counts, so a `batch()` of n statements is n queries, not one.
 */
export const D1_MAX_QUERIES_PER_INVOCATION = 1000;

/**
 * The most statements this code puts in one `batch()`. D1 names no count of its own, but each
 * statement counts toward the queries one invocation may make (1,000 on Workers Paid, 50 on Free,
 * same page) and a batch is one transaction that holds the database's writers while it runs; 50
 * keeps any one batch well inside both.
 */
export const D1_MAX_BATCH_STATEMENTS = 50;

/** `items` in consecutive runs of at most `size` (the last may be shorter). Throws a RangeError if `size` < 1. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`chunk size must be a positive integer, not ${size}`);
  const runs: T[][] = [];
  for (let start = 0; start < items.length; start += size) runs.push(items.slice(start, start + size));
  return runs;
}

/** How a statement binds: `perItem` values for each item (row, id) and `fixed` values besides. */
export interface BindShape {
  perItem: number;
  fixed?: number;
}

/**
 * How many items one statement can take within {@link D1_MAX_BOUND_PARAMETERS}. Throws a
 * RangeError if not even one item fits.
 */
export function itemsPerStatement({ perItem, fixed = 0 }: BindShape): number {
  const fit = Math.floor((D1_MAX_BOUND_PARAMETERS - fixed) / perItem);
  if (!Number.isFinite(fit) || fit < 1)
    throw new RangeError(`a statement binding ${fixed} + ${perItem} per item exceeds D1's parameter limit`);
  return fit;
}

/**
 * `items` split so that a statement over each run binds at most {@link D1_MAX_BOUND_PARAMETERS}:
 * e.g. `chunkForStatement(ids, { perItem: 1, fixed: 2 })` for `UPDATE ... SET a = ?, b = ? WHERE
 * id IN (...)`, or `{ perItem: 8 }` for a multi-row INSERT of 8 columns.
 */
export function chunkForStatement<T>(items: readonly T[], shape: BindShape): T[][] {
  return chunk(items, itemsPerStatement(shape));
}

/**
 * `(SELECT value FROM json_each(?))` over `values`, for `inArray(column, jsonList(ids))`: a list of
 * any length bound as one JSON parameter, so a statement over a whole batch stays one statement
 * (and one query) instead of a run per {@link D1_MAX_BOUND_PARAMETERS}.
 */
export function jsonList(values: readonly (string | number)[]): SQL {
  return sql`(SELECT value FROM json_each(${JSON.stringify(values)}))`;
}

/**
 * `(SELECT value ->> 'a' AS a, ... FROM json_each(?)) AS alias`: `rows` as a table of `fields`,
 * bound as one JSON parameter, for an `INSERT ... SELECT` or an `UPDATE ... FROM` over any number
 * of rows in one statement. Throws a RangeError for a field or alias that is not a plain name.
 */
export function jsonRows<Row extends object>(
  rows: readonly Row[],
  fields: readonly (keyof Row & string)[],
  alias: string,
): SQL {
  for (const name of [...fields, alias]) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new RangeError(`not a plain SQL name: ${name}`);
  }
  const columns = fields.map((field) => `value ->> '${field}' AS ${field}`).join(", ");
  return sql`(SELECT ${sql.raw(columns)} FROM json_each(${JSON.stringify(rows)})) AS ${sql.raw(alias)}`;
}
