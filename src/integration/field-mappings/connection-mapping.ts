import { ExpiringMap } from "../../lib/expiring-map.ts";
import { connectionData } from "../connection-data/stub.ts";
import type { CustomFieldMapping } from "../contacts/mapping.ts";

/**
 * Mappings this isolate read or wrote, by connection, each for the `memoryTtlMs` it was kept with
 * (CACHE_MEMORY_TTL_MS): a hot connection's reads do not each ask its object. A change made in
 * this isolate applies here at once; one made in another isolate, at most that long later.
 */
const remembered = new ExpiringMap<string, CustomFieldMapping[]>(10_000);

/** How a connection's mapping is looked up. */
export interface MappingLookup {
  /** How long this isolate may serve what it read, ms (0: always ask the object). */
  memoryTtlMs: number;
  /** Ask the object even if this isolate holds a copy (writes check against the mapping as stored). */
  fresh?: boolean;
}

/** The connection's custom-field mapping: this isolate's recent copy, else its `ConnectionData` object's (one call). */
export async function connectionMapping(
  env: Env,
  connectionId: string,
  lookup: MappingLookup,
): Promise<CustomFieldMapping[]> {
  if (!lookup.fresh) {
    const held = remembered.get(connectionId);
    if (held) return held;
  }
  const mapping = await connectionData(env, connectionId).fieldMappings();
  remembered.set(connectionId, mapping, lookup.memoryTtlMs);
  return mapping;
}

/** Keeps the mapping just stored, so this isolate's next reads apply it without asking. */
export function rememberMapping(
  connectionId: string,
  mapping: CustomFieldMapping[],
  memoryTtlMs: number,
): void {
  remembered.set(connectionId, mapping, memoryTtlMs);
}
