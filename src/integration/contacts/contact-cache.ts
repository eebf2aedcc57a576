import { ExpiringMap } from "../../lib/expiring-map.ts";
import { errorFields, log } from "../../lib/logger.ts";
import type { StoredContact } from "./schemas.ts";

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
  contact: StoredContact;
  storedAt: number;
  /** When the read at Acme that gave the copy began, epoch ms (absent in older entries: storedAt). */
  readAt?: number;
}

/**
 * Written beside a contact's entry when a change invalidates it (KV has no compare-and-swap, so a
 * read that began before the change may still write its older copy after the invalidation): an
 * entry counts only if its version reaches `minVersion`, or (version unknown, null) if its read
 * at Acme began after `at`. Older copies are neither HIT nor STALE, whenever they were written.
 */
interface Tombstone {
  minVersion: number | null;
  at: number;
}

/** Whether `entry` may be served despite `tombstone` (see {@link Tombstone}). */
function outlives(entry: CachedContact, tombstone: Tombstone | null): boolean {
  if (!tombstone) return true;
  if (tombstone.minVersion !== null) return entry.contact.version >= tombstone.minVersion;
  return (entry.readAt ?? entry.storedAt) > tombstone.at;
}

export interface CacheLookup {
  contact: StoredContact;
  fresh: boolean;
  ageSeconds: number;
  /** When the copy was stored, epoch ms. */
  storedAt: number;
}

/**
 * What `store` did: wrote the copy; left it (KV holds it already); did not write it because the
 * key was written too recently and there is no `defer` to write it later (the next miss writes
 * it); put it off until the key may be written again; tried and failed (logged and counted); or
 * did not write it because this isolate invalidated the contact after the copy's read began.
 */
export type StoreOutcome = "written" | "unchanged" | "throttled" | "deferred" | "failed" | "superseded";

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
  /**
   * Called before a copy is written to KV, with the contact and when KV drops the copy (epoch
   * ms): the connection's object records that the contact may be cached, so a later change
   * invalidates it (a change to a contact never cached costs no KV write). False: a newer
   * version is known, the copy is not written. A rejection counts as a failed write.
   */
  beforeWrite?: (contact: StoredContact, until: number) => Promise<boolean>;
}

/**
 * The last write this isolate made to a key: the version it stored (null: unknown, or outranked by
 * a tombstone since), and when (epoch ms); and when this isolate last wrote its tombstone.
 */
interface LedgerEntry {
  version: number | null;
  at: number;
  invalidatedAt?: number;
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

  private tombstoneKey(contactId: string): string {
    return `contact-tombstone:${this.connectionId}:${contactId}`;
  }

  private get expirationTtl(): number {
    return Math.max(60, this.ttlSeconds + STALE_RETENTION_SECONDS);
  }

  /**
   * The cached copy, fresh or not; null if none, or if a later change's tombstone outranks it.
   * One KV read (entry and tombstone together). Throws what KV throws on a read.
   */
  async get(contactId: string, now = Date.now()): Promise<CacheLookup | null> {
    const key = this.key(contactId);
    let entry = recentEntries.get(key, now);
    if (!entry) {
      const tombstoneKey = this.tombstoneKey(contactId);
      const found = await this.kv.get<CachedContact | Tombstone>([key, tombstoneKey], "json");
      entry = (found.get(key) as CachedContact | null) ?? undefined;
      if (!entry || !outlives(entry, found.get(tombstoneKey) as Tombstone | null)) return null;
      // Not if this isolate wrote or dropped the key while the read was on its way.
      const last = ledger.get(key);
      if (!last || Math.max(last.at, last.invalidatedAt ?? 0) < now) {
        recentEntries.set(key, entry, this.memoryTtlMs, now);
      }
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
   * from KV (undefined if it did not look), `readAt` when the read at Acme that gave `contact`
   * began (epoch ms). Never throws.
   */
  async store(
    contact: StoredContact,
    known?: CacheLookup | null,
    now = Date.now(),
    readAt = now,
  ): Promise<StoreOutcome> {
    const key = this.key(contact.id);
    const last = ledger.get(key);
    // A change this isolate saw after the read began: the copy may predate it (other isolates'
    // changes are caught by their tombstone when the copy is read).
    if (last?.invalidatedAt !== undefined && readAt < last.invalidatedAt) return "superseded";
    // What KV holds: as this request read it if it looked, else as this isolate last wrote it.
    const inKv =
      known === undefined ? last : known ? { version: known.contact.version, at: known.storedAt } : null;
    if (inKv && inKv.version === contact.version && now - inKv.at < this.ttlSeconds * 1000) {
      return "unchanged";
    }
    if (last && now - last.at < this.writeIntervalMs) {
      // Not yet in KV, but this isolate's next reads need not ask Acme again meanwhile.
      recentEntries.set(key, { contact, storedAt: now, readAt }, this.memoryTtlMs, now);
      if (!this.options.defer) return "throttled";
      const superseded = last;
      this.options.defer(
        (async () => {
          await sleep(last.at + this.writeIntervalMs - now);
          // Only if no other write of this key came meanwhile (it would be as new or newer).
          if (ledger.get(key) === superseded) await this.write(key, contact, Date.now(), readAt);
        })(),
      );
      return "deferred";
    }
    return this.write(key, contact, now, readAt);
  }

  private async write(
    key: string,
    contact: StoredContact,
    now: number,
    readAt: number,
  ): Promise<"written" | "failed" | "superseded"> {
    remember(key, { version: contact.version, at: now });
    const entry: CachedContact = { contact, storedAt: now, readAt };
    try {
      if (
        this.options.beforeWrite &&
        !(await this.options.beforeWrite(contact, now + this.expirationTtl * 1000))
      ) {
        remember(key, { version: null, at: now });
        return "superseded";
      }
      await this.kv.put(key, JSON.stringify(entry), { expirationTtl: this.expirationTtl });
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
   * Drops the cached copy after a change: writes the contact's tombstone (its own KV key, so the
   * entry's key is not written), which outranks any copy older than `minVersion` (the changed
   * contact's version; one past it for a delete), or, when the version is unknown (null), any copy
   * read at Acme before now. A write KV refuses (the tombstone was written less than a second ago)
   * is tried once more after the interval, since a copy left standing would be served as fresh
   * for up to the TTL; if that fails too, it is logged and counted. Never throws.
   */
  async invalidate(contactId: string, minVersion: number | null = null, now = Date.now()): Promise<void> {
    const key = this.key(contactId);
    const tombstoneKey = this.tombstoneKey(contactId);
    // The entry's key is not written, so its own write interval is not spent; what it holds may
    // no longer count, though, so it is not taken as "unchanged" by the next store.
    const dropped = (at: number) =>
      remember(key, { version: null, at: ledger.get(key)?.at ?? 0, invalidatedAt: at });
    dropped(now);
    recentEntries.delete(key);
    const tombstone: Tombstone = { minVersion, at: now };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.kv.put(tombstoneKey, JSON.stringify(tombstone), { expirationTtl: this.expirationTtl });
        // A read during a refused first try may have held the old entry again.
        recentEntries.delete(key);
        return;
      } catch (error) {
        if (attempt > 0) {
          await this.writeFailed("tombstone", contactId, error);
          return;
        }
        await sleep(Math.max(this.writeIntervalMs, KV_KEY_WRITE_INTERVAL_MS));
        dropped(Date.now());
      }
    }
  }

  private async writeFailed(
    operation: "put" | "tombstone",
    contactId: string,
    error: unknown,
  ): Promise<void> {
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
