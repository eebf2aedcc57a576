import { env } from "cloudflare:test";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import {
  chunk,
  chunkForStatement,
  D1_MAX_BOUND_PARAMETERS,
  itemsPerStatement,
  jsonList,
  jsonRows,
} from "../../src/lib/d1-limits.ts";

const inList = (n: number) => Array.from({ length: n }, () => "?").join(",");

describe("D1 limits", () => {
  it("matches the platform: 100 bound values run, 101 fail with too many SQL variables", async () => {
    const ids = Array.from({ length: D1_MAX_BOUND_PARAMETERS + 1 }, (_, i) => `id${i}`);
    const at = (n: number) =>
      env.DB.prepare(`SELECT id FROM api_keys WHERE id IN (${inList(n)})`)
        .bind(...ids.slice(0, n))
        .all();
    await expect(at(D1_MAX_BOUND_PARAMETERS)).resolves.toMatchObject({ success: true });
    await expect(at(D1_MAX_BOUND_PARAMETERS + 1)).rejects.toThrow(/too many SQL variables/);
  });

  it("splits 250 ids for a statement with two more values into runs that D1 accepts", async () => {
    const ids = Array.from({ length: 250 }, (_, i) => `id${i}`);
    const runs = chunkForStatement(ids, { perItem: 1, fixed: 2 });
    expect(runs.map((r) => r.length)).toEqual([98, 98, 54]);
    expect(runs.flat()).toEqual(ids);
    for (const run of runs) {
      const result = await env.DB.prepare(
        `SELECT id FROM api_keys WHERE connection_id = ? AND id IN (${inList(run.length)}) AND created_at > ?`,
      )
        .bind("conn_none", ...run, 0)
        .all();
      expect(result.success).toBe(true);
    }
  });

  it("fits whole rows of a multi-row INSERT into one statement", () => {
    expect(itemsPerStatement({ perItem: 8 })).toBe(12);
    expect(itemsPerStatement({ perItem: 1 })).toBe(100);
    expect(itemsPerStatement({ perItem: 9, fixed: 1 })).toBe(11);
  });

  it("refuses a shape where not even one item fits, and a chunk size below one", () => {
    expect(() => itemsPerStatement({ perItem: 101 })).toThrow(RangeError);
    expect(() => itemsPerStatement({ perItem: 1, fixed: 100 })).toThrow(RangeError);
    expect(() => itemsPerStatement({ perItem: 0 })).toThrow(RangeError);
    expect(() => chunk([1, 2], 0)).toThrow(RangeError);
    expect(() => chunk([1, 2], 1.5)).toThrow(RangeError);
  });

  it("chunks keep order and cover every item once, the last run shorter", () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunk([], 3)).toEqual([]);
  });

  it("binds a list of any length as one JSON parameter", async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `id${i}`);
    const db = drizzle(env.DB);
    const rows = await db.all<{ value: string }>(
      sql`SELECT value FROM json_each(${JSON.stringify(ids)}) WHERE value IN ${jsonList(ids)}`,
    );
    expect(rows.map((r) => r.value)).toEqual(ids);
    expect(db.all(sql`SELECT 1 WHERE 'a' IN ${jsonList(["a"])}`).getQuery().params).toEqual(['["a"]']);
  });

  it("reads rows bound as one JSON parameter as a table of their fields, and refuses names that are not plain", async () => {
    const rows = Array.from({ length: 300 }, (_, i) => ({
      id: `r${i}`,
      n: i,
      note: i % 2 ? null : `it's "${i}"`,
    }));
    const db = drizzle(env.DB);
    const read = await db.all<{ id: string; n: number; note: string | null }>(
      sql`SELECT r.id, r.n, r.note FROM ${jsonRows(rows, ["id", "n", "note"], "r")}`,
    );
    expect(read).toEqual(rows);
    expect(() => jsonRows(rows, ["id", "n; DROP TABLE x" as "id"], "r")).toThrow(RangeError);
    expect(() => jsonRows(rows, ["id"], "r s")).toThrow(RangeError);
  });
});
