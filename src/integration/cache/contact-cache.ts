import type { Contact } from "../contacts/schemas.ts";

/** How long KV keeps a copy after it stops being fresh, so reads can fall back to it. */
export const STALE_RETENTION_SECONDS = 7 * 86_400;

interface CachedContact {
  contact: Contact;
  storedAt: number;
}

export interface CacheLookup {
  contact: Contact;
  fresh: boolean;
  ageSeconds: number;
}

/**
 * Cache-aside copies of single contacts in KV, keyed by connection so tenants never share entries.
 * Freshness is decided here from `storedAt`; KV's own expiry only bounds how long stale copies live.
 */
export class ContactCache {
  constructor(
    private readonly kv: KVNamespace,
    private readonly connectionId: string,
    private readonly ttlSeconds: number,
  ) {}

  private key(contactId: string): string {
    return `contact:${this.connectionId}:${contactId}`;
  }

  async get(contactId: string, now = Date.now()): Promise<CacheLookup | null> {
    const entry = await this.kv.get<CachedContact>(this.key(contactId), "json");
    if (!entry) return null;
    const ageSeconds = Math.max(0, Math.floor((now - entry.storedAt) / 1000));
    return { contact: entry.contact, fresh: now - entry.storedAt < this.ttlSeconds * 1000, ageSeconds };
  }

  async put(contact: Contact, now = Date.now()): Promise<void> {
    const entry: CachedContact = { contact, storedAt: now };
    await this.kv.put(this.key(contact.id), JSON.stringify(entry), {
      expirationTtl: Math.max(60, this.ttlSeconds + STALE_RETENTION_SECONDS),
    });
  }

  async invalidate(contactId: string): Promise<void> {
    await this.kv.delete(this.key(contactId));
  }
}
