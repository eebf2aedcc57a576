import { and, eq, lte } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { idempotencyKeys } from "../db/schema.ts";

/** How long a request holds its key before another attempt may take it over (a crashed Worker). */
export const IN_FLIGHT_LOCK_MS = 60_000;

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * What `start` found. `started` with `takenOver`: an earlier attempt with this key and body claimed
 * it and never finished (its lock expired), so its operation may have happened.
 */
export type IdempotencyStart =
  | { kind: "started"; takenOver: boolean }
  | { kind: "replay"; response: StoredResponse }
  | { kind: "in_flight" }
  | { kind: "mismatch" };

/** `Idempotency-Key` records per connection in D1: claim, then complete or release. */
export class IdempotencyStore {
  private readonly db;

  constructor(
    d1: D1Database,
    private readonly connectionId: string,
    private readonly ttlSeconds: number,
  ) {
    this.db = drizzle(d1);
  }

  async start(key: string, requestHash: string, now = Date.now()): Promise<IdempotencyStart> {
    for (let round = 0; round < 2; round++) {
      const claimed = await this.db
        .insert(idempotencyKeys)
        .values({
          connectionId: this.connectionId,
          key,
          requestHash,
          state: "in_flight",
          lockedUntil: now + IN_FLIGHT_LOCK_MS,
          expiresAt: now + this.ttlSeconds * 1000,
        })
        .onConflictDoNothing()
        .returning({ key: idempotencyKeys.key })
        .get();
      if (claimed) return { kind: "started", takenOver: false };

      const existing = await this.db.select().from(idempotencyKeys).where(this.where(key)).get();
      if (!existing) continue;
      if (existing.expiresAt <= now) {
        await this.db
          .delete(idempotencyKeys)
          .where(and(this.where(key), lte(idempotencyKeys.expiresAt, now)));
        continue;
      }
      if (existing.requestHash !== requestHash) return { kind: "mismatch" };
      if (existing.state === "done") {
        return {
          kind: "replay",
          response: {
            status: existing.responseStatus ?? 200,
            headers: JSON.parse(existing.responseHeaders ?? "{}") as Record<string, string>,
            body: existing.responseBody ?? "",
          },
        };
      }
      if (existing.lockedUntil > now) return { kind: "in_flight" };
      // The first attempt died without finishing: take the key over, exactly once.
      const takenOver = await this.db
        .update(idempotencyKeys)
        .set({ lockedUntil: now + IN_FLIGHT_LOCK_MS })
        .where(and(this.where(key), eq(idempotencyKeys.lockedUntil, existing.lockedUntil)))
        .returning({ key: idempotencyKeys.key })
        .get();
      return takenOver ? { kind: "started", takenOver: true } : { kind: "in_flight" };
    }
    return { kind: "in_flight" };
  }

  /** Stores the final answer under the key (still ours: in flight). Throws what D1 throws. */
  async complete(key: string, response: StoredResponse): Promise<void> {
    await this.db
      .update(idempotencyKeys)
      .set({
        state: "done",
        responseStatus: response.status,
        responseHeaders: JSON.stringify(response.headers),
        responseBody: response.body,
      })
      .where(this.where(key));
  }

  /** The request failed in a way worth retrying: free the key so the retry runs anew. */
  async release(key: string): Promise<void> {
    await this.db.delete(idempotencyKeys).where(and(this.where(key), eq(idempotencyKeys.state, "in_flight")));
  }

  private where(key: string) {
    return and(eq(idempotencyKeys.connectionId, this.connectionId), eq(idempotencyKeys.key, key));
  }
}

/** Canonical JSON (sorted keys) so the same body with other whitespace or key order matches. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
