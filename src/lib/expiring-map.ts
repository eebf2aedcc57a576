/**
 * A bounded map whose entries expire: what an isolate remembers between requests (resolved API
 * keys, webhook secrets, recently read cache entries). Each entry lives the `ttlMs` it was set
 * with; past `maxEntries` the entry set longest ago is dropped. Times are epoch ms, passed in so
 * tests can move the clock.
 */
export class ExpiringMap<K, V> {
  private readonly entries = new Map<K, { value: V; until: number }>();

  /** @param maxEntries the most entries kept (at least 1). */
  constructor(private readonly maxEntries: number) {}

  /** The value set for `key` if its time has not run out by `now`, else undefined (dropping it). */
  get(key: K, now = Date.now()): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until > now) return entry.value;
    this.entries.delete(key);
    return undefined;
  }

  /** Remembers `value` for `key` until `now + ttlMs` (ms), as the newest entry; ttl <= 0 forgets it. */
  set(key: K, value: V, ttlMs: number, now = Date.now()): void {
    this.entries.delete(key);
    if (ttlMs <= 0) return;
    this.entries.set(key, { value, until: now + ttlMs });
    if (this.entries.size > Math.max(1, this.maxEntries)) {
      this.entries.delete(this.entries.keys().next().value as K);
    }
  }

  delete(key: K): void {
    this.entries.delete(key);
  }
}
