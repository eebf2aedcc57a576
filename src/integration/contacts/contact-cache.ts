import { ExpiringMap } from "../../lib/expiring-map.ts";
import { errorFields, log } from "../../lib/logger.ts";
import type { Contact } from "./schemas.ts";

/** How long KV keeps a copy after it stops being fresh, so reads can fall back to it. */
export const STALE_RETENTION_SECONDS = 7 * 86_400;

/**
 * Workers KV takes at most one write per second to the same key; more answer 429
 * (https://developers.cloudflare.com/kv/platform/limits/). Deletes count as writes. By default
 * this code writes a key at most once per this many ms from an isolate (CACHE_KEY_WRITE_INTERVAL_MS).
 */
export const KV_KEY_WRITE_INTERVAL_MS = 1000;

/**
 * How long (ms) an isolate serves an entry it read from KV or wrote itself without asking KV again,
 * by default (CACHE_MEMORY_TTL_MS); see {@link ContactCache}.
 */
export const MEMORY_TTL_MS = 1000;

/** Keys whose last write this isolate remembers; the oldest is forgotten beyond this. */
const LEDGER_SIZE = 10_000;

/** Entries held in memory; the one read or written longest ago is forgotten beyond this. */
const RECENT_ENTRIES_SIZE = 1000;

interface CachedContact {
  contact: Contact;
  storedAt: number;
}

export interface CacheLookup {
  contact: Contact;
  fresh: boolean;
  ageSeconds: number;
  /** When the copy was stored, epoch ms. */
  storedAt: number;
}

/**
 * What `store` did: wrote the copy; left it (KV holds it already); did not write it because the
 * key was written too recently and there is no `defer` to write it later (the next miss writes
 * it); put it off until the key may be written again; or tried and failed (logged and counted).
 */
export type StoreOutcome = "written" | "unchanged" | "throttled" | "deferred" | "failed";

/** How a ContactCache writes. */
export interface ContactCacheOptions {
  /** Least time between two writes of one key from this isolate, ms (default KV_KEY_WRITE_INTERVAL_MS). */
  writeIntervalMs?: number;
  /** Called once per failed write or delete, to count it (the session's counter); may reject. */
  onWriteFailure?: () => Promise<void> | void;
  /** Keeps work going after the response (the request's `waitUntil`), for a write put off. */
  defer?: (work: Promise<unknown>) => void;
  /**
   * How long an entry read from KV or written is served from this isolate's memory, ms (default
   * MEMORY_TTL_MS; 0: always KV).
   */
  memoryTtlMs?: number;
}

/** The last write this isolate made to a key: the version it stored (null: a delete), and when (epoch ms). */
interface LedgerEntry {
  version: number | null;
  at: number;
}

/**
 * This isolate's last write per KV key, shared by every request the isolate serves, so that
 * concurrent and back-to-back misses of one contact write it once. Insertion-ordered: the oldest
 * entry goes first when it is full.
 */
const ledger = new Map<string, LedgerEntry>();

/**
 * Entries as this isolate last read them from KV, wrote them, or is waiting to write them, each for
 * the cache's `memoryTtlMs`.
 */
const recentEntries = new ExpiringMap<string, CachedContact>(RECENT_ENTRIES_SIZE);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function remember(key: string, entry: LedgerEntry): void {
  ledger.delete(key);
  ledger.set(key, entry);
  if (ledger.size > LEDGER_SIZE) ledger.delete(ledger.keys().next().value as string);
}

/**
 * Cache-aside copies of single contacts in KV, keyed by connection so tenants never share entries.
 * Freshness is decided here from `storedAt`; KV's own expiry only bounds how long stale copies live.
 *
 * Writes follow KV's per-key limit and never fail a read:
 * - a copy is not written when the copy in KV (as this request read it, or as this isolate last
 *   wrote it) already holds the same version and is still fresh;
 * - a key this isolate wrote or dropped less than `writeIntervalMs` ago is not written now: the
 *   write is put off until the interval has passed (and dropped if another write or drop of the
 *   key came meanwhile), and the copy is held in memory until then (see below), so a read right
 *   after a webhook dropped the key is not followed by another miss;
 * - a write that fails is logged ("cache write failed") and reported through `onWriteFailure`,
 *   and the read goes on.
 *
 * Reads of a hot key do not each go to KV: an entry this isolate read from KV, wrote, or is
 * waiting to write is served from memory for `memoryTtlMs` (1 s by default). A change dropped
 * in this isolate drops it at once; one dropped by another isolate (a webhook handled elsewhere)
 * is seen here at most that long later, on top of KV's own propagation between locations (up to
 * 60 s).
 */
export class ContactCache {
  private readonly writeIntervalMs: number;
  private readonly memoryTtlMs: number;

  constructor(
    private readonly kv: KVNamespace,
    private readonly connectionId: string,
    private readonly ttlSeconds: number,
    private readonly options: ContactCacheOptions = {},
  ) {
    this.writeIntervalMs = options.writeIntervalMs ?? KV_KEY_WRITE_INTERVAL_MS;
    this.memoryTtlMs = options.memoryTtlMs ?? MEMORY_TTL_MS;
  }

  private key(contactId: string): string {
    return `contact:${this.connectionId}:${contactId}`;
  }

  /** The cached copy, fresh or not; null if none. Throws what KV throws on a read. */
  async get(contactId: string, now = Date.now()): Promise<CacheLookup | null> {
    const key = this.key(contactId);
    let entry = recentEntries.get(key, now);
    if (!entry) {
      entry = (await this.kv.get<CachedContact>(key, "json")) ?? undefined;
      if (!entry) return null;
      // Not if this isolate wrote or dropped the key while the read was on its way.
      const last = ledger.get(key);
      if (!last || last.at < now) recentEntries.set(key, entry, this.memoryTtlMs, now);
    }
    const ageSeconds = Math.max(0, Math.floor((now - entry.storedAt) / 1000));
    return {
      contact: entry.contact,
      fresh: now - entry.storedAt < this.ttlSeconds * 1000,
      ageSeconds,
      storedAt: entry.storedAt,
    };
  }

  /**
   * Stores `contact` as the fresh copy, by the rules above; `known` is the copy this request read
   * from KV (undefined if it did not look). Never throws.
   */
  async store(contact: Contact, known?: CacheLookup | null, now = Date.now()): Promise<StoreOutcome> {
    const key = this.key(contact.id);
    const last = ledger.get(key);
    // What KV holds: as this request read it if it looked, else as this isolate last wrote it.
    const inKv =
      known === undefined ? last : known ? { version: known.contact.version, at: known.storedAt } : null;
    if (inKv && inKv.version === contact.version && now - inKv.at < this.ttlSeconds * 1000) {
      return "unchanged";
    }
    if (last && now - last.at < this.writeIntervalMs) {
      // Not yet in KV, but this isolate's next reads need not ask Acme again meanwhile.
      recentEntries.set(key, { contact, storedAt: now }, this.memoryTtlMs, now);
      if (!this.options.defer) return "throttled";
      const superseded = last;
      this.options.defer(
        (async () => {
          await sleep(last.at + this.writeIntervalMs - now);
          // Only if no other write of this key came meanwhile (it would be as new or newer).
          if (ledger.get(key) === superseded) await this.write(key, contact, Date.now());
        })(),
      );
      return "deferred";
    }
    return this.write(key, contact, now);
  }

  private async write(key: string, contact: Contact, now: number): Promise<"written" | "failed"> {
    remember(key, { version: contact.version, at: now });
    const entry: CachedContact = { contact, storedAt: now };
    try {
      await this.kv.put(key, JSON.stringify(entry), {
        expirationTtl: Math.max(60, this.ttlSeconds + STALE_RETENTION_SECONDS),
      });
      recentEntries.set(key, entry, this.memoryTtlMs, now);
      return "written";
    } catch (error) {
      // What KV holds is unknown now: the next miss may try again (after the interval).
      remember(key, { version: null, at: now });
      recentEntries.delete(key);
      await this.writeFailed("put", contact.id, error);
      return "failed";
    }
  }

  /**
   * Drops the cached copy after a change. A delete KV refuses (the key was written less than a
   * second ago) is tried once more after the interval, since a copy left behind would be served
   * as fresh for up to the TTL; if that fails too, it is logged and counted. Never throws.
   */
  async invalidate(contactId: string, now = Date.now()): Promise<void> {
    const key = this.key(contactId);
    remember(key, { version: null, at: now });
    recentEntries.delete(key);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.kv.delete(key);
        // A read during a refused first try may have held the old entry again.
        recentEntries.delete(key);
        return;
      } catch (error) {
        if (attempt > 0) {
          await this.writeFailed("delete", contactId, error);
          return;
        }
        await sleep(Math.max(this.writeIntervalMs, KV_KEY_WRITE_INTERVAL_MS));
        remember(key, { version: null, at: Date.now() });
      }
    }
  }

  private async writeFailed(operation: "put" | "delete", contactId: string, error: unknown): Promise<void> {
    log("warn", "cache write failed", {
      connectionId: this.connectionId,
      contactId,
      operation,
      ...errorFields(error),
    });
    try {
      await this.options.onWriteFailure?.();
    } catch (countError) {
      log("warn", "cache write failure not counted", { contactId, ...errorFields(countError) });
    }
  }
}
