import { asc } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { type FieldMappingRow, fieldMappings } from "../connection-data/schema.ts";
import type { CustomFieldMapping } from "../contacts/mapping.ts";

function fromRow(row: FieldMappingRow): CustomFieldMapping {
  return {
    apiName: row.apiName,
    remote: row.remote,
    type: row.type,
    options: row.options === null ? null : (JSON.parse(row.options) as string[]),
    label: row.label,
  };
}

/**
 * The connection's custom-field mapping, in its `ConnectionData` object's SQLite storage. The
 * object is its only writer, so the mapping it last read is kept in memory until it replaces it.
 */
export class FieldMappingStore {
  private current: CustomFieldMapping[] | null = null;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly db: DrizzleSqliteDODatabase,
  ) {}

  /** Every mapped field, by API name. */
  list(): CustomFieldMapping[] {
    this.current ??= this.db
      .select()
      .from(fieldMappings)
      .orderBy(asc(fieldMappings.apiName))
      .all()
      .map(fromRow);
    return this.current;
  }

  /**
   * Replaces the whole mapping with `mappings` (checked by the caller against the API's names and
   * Acme's properties), in one transaction; returns it as stored. Null, changing nothing, when an
   * API name or an Acme property comes twice.
   */
  replace(mappings: CustomFieldMapping[]): CustomFieldMapping[] | null {
    for (const key of ["apiName", "remote"] as const) {
      if (new Set(mappings.map((m) => m[key])).size < mappings.length) return null;
    }
    this.storage.transactionSync(() => {
      this.db.delete(fieldMappings).run();
      for (const m of mappings) {
        this.db
          .insert(fieldMappings)
          .values({
            apiName: m.apiName,
            remote: m.remote,
            type: m.type,
            options: m.options === null ? null : JSON.stringify(m.options),
            label: m.label,
          })
          .run();
      }
    });
    this.current = null;
    return this.list();
  }
}
