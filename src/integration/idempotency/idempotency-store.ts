import { and, eq } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { idempotencyKeys } from "../connection-data/schema.ts";

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

/**
 * `Idempotency-Key` records of one connection, in its `ConnectionData` object's SQLite storage:
 * claim, then complete or release. Synchronous: each call is atomic in the object's one thread.
 */
export class IdempotencyStore {
  constructor(
    private readonly db: DrizzleSqliteDODatabase,
    private readonly sql: SqlStorage,
    private readonly ttlSeconds: number,
  ) {}

  /** Claims `key` for a request whose canonical hash is `requestHash` (see {@link IdempotencyStart}). */
  start(key: string, requestHash: string, now = Date.now()): IdempotencyStart {
    const existing = this.db.select().from(idempotencyKeys).where(eq(idempotencyKeys.key, key)).get();
    if (!existing || existing.expiresAt <= now) {
      this.db
        .insert(idempotencyKeys)
        .values({
          key,
          requestHash,
          state: "in_flight",
          lockedUntil: now + IN_FLIGHT_LOCK_MS,
          expiresAt: now + this.ttlSeconds * 1000,
        })
        .onConflictDoUpdate({
          target: idempotencyKeys.key,
          set: {
            requestHash,
            state: "in_flight",
            responseStatus: null,
            responseHeaders: null,
            responseBody: null,
            lockedUntil: now + IN_FLIGHT_LOCK_MS,
            expiresAt: now + this.ttlSeconds * 1000,
          },
        })
        .run();
      return { kind: "started", takenOver: false };
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
    this.db
      .update(idempotencyKeys)
      .set({ lockedUntil: now + IN_FLIGHT_LOCK_MS })
      .where(eq(idempotencyKeys.key, key))
      .run();
    return { kind: "started", takenOver: true };
  }

  /** Stores the final answer under the key (still ours: in flight). */
  complete(key: string, response: StoredResponse): void {
    this.db
      .update(idempotencyKeys)
      .set({
        state: "done",
        responseStatus: response.status,
        responseHeaders: JSON.stringify(response.headers),
        responseBody: response.body,
      })
      .where(eq(idempotencyKeys.key, key))
      .run();
  }

  /** The request failed in a way worth retrying: free the key so the retry runs anew. */
  release(key: string): void {
    this.db
      .delete(idempotencyKeys)
      .where(and(eq(idempotencyKeys.key, key), eq(idempotencyKeys.state, "in_flight")))
      .run();
  }

  /** Deletes at most `limit` keys expired by `now` (epoch ms); returns how many. */
  prune(now: number, limit: number): number {
    return this.sql
      .exec(
        `DELETE FROM idempotency_keys WHERE key IN
         (SELECT key FROM idempotency_keys WHERE expires_at <= ?1 LIMIT ?2) RETURNING key`,
        now,
        limit,
      )
      .toArray().length;
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
