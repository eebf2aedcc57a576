import { env, SELF } from "cloudflare:test";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { createAcmeClient } from "../../src/integration/acme-client/create-acme-client.ts";
import { loadIntegrationConfig } from "../../src/integration/config.ts";
import {
  ContactCache,
  KV_KEY_WRITE_INTERVAL_MS,
  MEMORY_TTL_MS,
} from "../../src/integration/contacts/contact-cache.ts";
import { ContactService } from "../../src/integration/contacts/contact-service.ts";
import type { Contact } from "../../src/integration/contacts/schemas.ts";
import { connections } from "../../src/integration/db/schema.ts";
import type { RequestStats } from "../../src/integration/request-stats.ts";
import { acmeSessionStub } from "../../src/integration/session/session-stub.ts";
import { acme, tokenFor } from "../acme/helpers.ts";
import { api, newConnection } from "./helpers.ts";

/**
 * A KV namespace that refuses a second write (put or delete) to the same key within a second,
 * as Workers KV does in production (the local runtime does not), and counts what it was asked.
 * `failAll` makes every write fail.
 */
function productionLikeKv(kv: KVNamespace, options: { failAll?: boolean; now?: () => number } = {}) {
  const now = options.now ?? Date.now;
  const lastWrite = new Map<string, number>();
  const counts = { gets: 0, puts: 0, deletes: 0, refused: 0 };
  const write = async (key: string, op: () => Promise<void>) => {
    const at = now();
    const last = lastWrite.get(key);
    if (options.failAll || (last !== undefined && at - last < 1000)) {
      counts.refused += 1;
      throw new Error("KV PUT failed: 429 Too Many Requests");
    }
    lastWrite.set(key, at);
    await op();
  };
  const stand = {
    get: (key: string, type: "json") => {
      counts.gets += 1;
      return kv.get(key, type);
    },
    put: async (key: string, value: string, opts?: KVNamespacePutOptions) => {
      counts.puts += 1;
      await write(key, () => kv.put(key, value, opts));
    },
    delete: async (key: string) => {
      counts.deletes += 1;
      await write(key, () => kv.delete(key));
    },
  };
  return { kv: stand as unknown as KVNamespace, counts };
}

/** The contact service of a real connection, over the given KV, counting Acme reads of single contacts. */
async function serviceFor(
  connectionId: string,
  kv: KVNamespace,
  options: { holdRead?: () => Promise<void> } = {},
) {
  const config = loadIntegrationConfig(env);
  const connection = await drizzle(env.DB)
    .select()
    .from(connections)
    .where(eq(connections.id, connectionId))
    .get();
  if (!connection) throw new Error("no connection");
  const acmeReads: string[] = [];
  const deferred: Promise<unknown>[] = [];
  const stats: RequestStats = { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 };
  const service = new ContactService(
    connectionId,
    () =>
      createAcmeClient(env, config, connection, {
        inProcess: async (request) => {
          if (request.method === "GET" && /\/v1\/contacts\/[^/?]+$/.test(new URL(request.url).pathname)) {
            acmeReads.push(request.url);
            const response = await SELF.fetch(request);
            await options.holdRead?.();
            return response;
          }
          return SELF.fetch(request);
        },
        stats,
        priority: "interactive",
      }),
    new ContactCache(kv, connectionId, config.cacheTtlSeconds, {
      writeIntervalMs: KV_KEY_WRITE_INTERVAL_MS,
      onWriteFailure: () => acmeSessionStub(env, connectionId).recordCacheWriteFailure(),
      defer: (work) => deferred.push(work),
    }),
    { recordStaleFallback: () => acmeSessionStub(env, connectionId).recordStaleFallback() },
  );
  return { service, acmeReads, deferred };
}

async function someContact(apiKey: string): Promise<Contact> {
  const res = await api("/api/v1/contacts", {
    key: apiKey,
    method: "POST",
    body: { firstName: "Hot", lastName: "Key", email: `hot-${crypto.randomUUID()}@example.com` },
  });
  expect(res.status).toBe(201);
  return res.json<Contact>();
}

let warnSpy: MockInstance<typeof console.warn>;
beforeEach(() => {
  warnSpy = vi.spyOn(console, "warn");
});
afterEach(() => {
  warnSpy.mockRestore();
});

describe("hot keys on KV's one write per key per second", () => {
  it("a KV write that throws leaves the read answering, logged and counted on the connection's status", async () => {
    const { connectionId, apiKey } = await newConnection();
    const contact = await someContact(apiKey);
    const { kv, counts } = productionLikeKv(env.CACHE, { failAll: true });
    const { service } = await serviceFor(connectionId, kv);

    const read = await service.get(contact.id);
    expect(read).toMatchObject({ cache: "MISS", contact: { id: contact.id, version: contact.version } });
    expect(counts.refused).toBe(1);
    const logged = warnSpy.mock.calls
      .map(([line]) => String(line))
      .filter((l) => l.includes("cache write failed"));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0] as string)).toMatchObject({ contactId: contact.id, operation: "put" });
    const status = await (await api("/api/v1/status", { key: apiKey })).json<{
      counters: { cacheWriteFailures: number };
    }>();
    expect(status.counters.cacheWriteFailures).toBe(1);

    // A tombstone KV refuses is tried again after the interval; refused twice, the write still answers.
    await expect(service.patch(contact.id, { title: "Still answers" })).resolves.toMatchObject({
      title: "Still answers",
    });
    expect(counts.puts).toBe(3);
  });

  it("50 concurrent no-cache reads of one contact within a second write KV at most once, and KV refuses none", async () => {
    const { connectionId, apiKey } = await newConnection();
    const contact = await someContact(apiKey);
    const { kv, counts } = productionLikeKv(env.CACHE);
    const { service, acmeReads } = await serviceFor(connectionId, kv);

    const reads = await Promise.all(Array.from({ length: 50 }, () => service.get(contact.id, true)));
    expect(reads.every((r) => r.cache === "MISS" && r.contact.version === contact.version)).toBe(true);
    // Each revalidation asks Acme itself; the copy is written once.
    expect(acmeReads).toHaveLength(50);
    expect(counts.puts).toBe(1);
    expect(counts.refused).toBe(0);
    // Revalidated again later, unchanged: nothing to write.
    await service.get(contact.id, true);
    expect(counts.puts).toBe(1);
    // A cold read now finds the copy.
    expect((await service.get(contact.id)).cache).toBe("HIT");
  });

  it("50 concurrent cold reads of one contact in one isolate make one Acme call and one KV write", async () => {
    const { connectionId, apiKey } = await newConnection();
    const contact = await someContact(apiKey);
    const { kv, counts } = productionLikeKv(env.CACHE);
    const { service, acmeReads } = await serviceFor(connectionId, kv);

    const reads = await Promise.all(Array.from({ length: 50 }, () => service.get(contact.id)));
    expect(reads.every((r) => r.cache === "MISS" && r.contact.id === contact.id)).toBe(true);
    expect(acmeReads).toHaveLength(1);
    expect(counts.puts).toBe(1);
    expect(counts.refused).toBe(0);
  });

  it("a newer version read within a second of the last write is written once the second is over", async () => {
    const { connectionId, apiKey, acmeClient } = await newConnection();
    const contact = await someContact(apiKey);
    const { kv, counts } = productionLikeKv(env.CACHE);
    const { service, deferred } = await serviceFor(connectionId, kv);
    expect((await service.get(contact.id)).cache).toBe("MISS");
    // Changed at Acme directly (no webhook here), then revalidated at once: KV holds the old copy.
    const token = await tokenFor(acmeClient);
    const res = await acme(`/v1/contacts/${contact.id}`, {
      token,
      method: "PATCH",
      body: { acme_title: "Newer" },
    });
    expect(res.status).toBe(200);
    expect((await service.get(contact.id, true)).contact.title).toBe("Newer");
    expect(deferred).toHaveLength(1);
    await Promise.all(deferred);
    expect(counts).toMatchObject({ puts: 2, refused: 0 });
    expect(await service.get(contact.id)).toMatchObject({ cache: "HIT", contact: { title: "Newer" } });
  });

  it("a read right after a webhook's invalidation writes its copy at once: the tombstone has its own key", async () => {
    const { connectionId, apiKey } = await newConnection();
    const contact = await someContact(apiKey);
    const { kv, counts } = productionLikeKv(env.CACHE);
    const { service, acmeReads, deferred } = await serviceFor(connectionId, kv);
    // The inbox's invalidation after the create's webhook: a KV write of the tombstone, this second.
    await new ContactCache(kv, connectionId, 60).invalidate(contact.id, contact.version);

    expect((await service.get(contact.id)).cache).toBe("MISS");
    expect(await service.get(contact.id)).toMatchObject({ cache: "HIT", contact: { id: contact.id } });
    expect(acmeReads).toHaveLength(1);
    expect(deferred).toHaveLength(0);
    expect(counts).toMatchObject({ puts: 2, deletes: 0, refused: 0 });
    const stored = await env.CACHE.get<{ contact: Contact }>(`contact:${connectionId}:${contact.id}`, "json");
    expect(stored?.contact.version).toBe(contact.version);
  });

  it("stores by the rules: unchanged versions are not written, a key is written at most once a second", async () => {
    const { connectionId } = await newConnection();
    let now = Date.now();
    const { kv, counts } = productionLikeKv(env.CACHE, { now: () => now });
    const cache = new ContactCache(kv, connectionId, 60, { writeIntervalMs: KV_KEY_WRITE_INTERVAL_MS });
    const v = (version: number) =>
      ({ id: `ct_rules_${connectionId}`, version, firstName: "R" }) as unknown as Contact;

    expect(await cache.store(v(1), undefined, now)).toBe("written");
    now += 10;
    expect(await cache.store(v(1), undefined, now)).toBe("unchanged");
    expect(await cache.store(v(2), undefined, now)).toBe("throttled");
    now += KV_KEY_WRITE_INTERVAL_MS;
    expect(await cache.store(v(2), undefined, now)).toBe("written");
    // What the request read from KV outranks what this isolate remembers: an empty key is written.
    now += KV_KEY_WRITE_INTERVAL_MS;
    expect(await cache.store(v(2), null, now)).toBe("written");
    expect(counts).toMatchObject({ puts: 3, deletes: 0, refused: 0 });
    // An invalidation writes the tombstone's key, not the entry's: a copy read after it is
    // written at once, one read before it is not written at all.
    now += KV_KEY_WRITE_INTERVAL_MS;
    await cache.invalidate(v(2).id, 3, now);
    expect(await cache.store(v(2), null, now + 10, now - 10)).toBe("superseded");
    expect(await cache.store(v(3), null, now + 10, now + 5)).toBe("written");
    expect(counts).toMatchObject({ puts: 5, deletes: 0, refused: 0 });
  });
});

describe("cache writes never go backwards", () => {
  const tombstoneKey = (connectionId: string, id: string) => `contact-tombstone:${connectionId}:${id}`;

  it("a read that began before a change does not put its older copy back after the change's invalidation", async () => {
    const { connectionId, apiKey, acmeClient } = await newConnection();
    const contact = await someContact(apiKey);
    const { kv, counts } = productionLikeKv(env.CACHE);
    let fetched: () => void = () => {};
    const readFetched = new Promise<void>((resolve) => {
      fetched = resolve;
    });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = false;
    const { service } = await serviceFor(connectionId, kv, {
      holdRead: async () => {
        if (held) return;
        held = true;
        fetched();
        await gate;
      },
    });

    // The read has Acme's copy (version 1) in hand when the change lands and its webhook invalidates.
    const slowRead = service.get(contact.id);
    await readFetched;
    const changed = await acme(`/v1/contacts/${contact.id}`, {
      token: await tokenFor(acmeClient),
      method: "PATCH",
      body: { acme_title: "Changed" },
    });
    const { acme_version: newVersion } = await changed.json<{ acme_version: number }>();
    await new ContactCache(kv, connectionId, 60).invalidate(contact.id, newVersion);
    release();
    expect((await slowRead).contact.version).toBe(contact.version);

    // The next read is not a HIT of the older copy: it asks Acme and gets the change.
    expect(await service.get(contact.id)).toMatchObject({
      cache: "MISS",
      contact: { version: newVersion, title: "Changed" },
    });
    expect(counts.refused).toBe(0);
  });

  it("an older copy written after another isolate's tombstone (no compare-and-swap) is served neither fresh nor stale", async () => {
    const { connectionId } = await newConnection();
    const start = Date.now();
    let clock = start;
    const { kv } = productionLikeKv(env.CACHE, { now: () => clock });
    const cache = new ContactCache(kv, connectionId, 60, { memoryTtlMs: 0 });
    const copy = (version: number) =>
      ({ id: `ct_backwards_${connectionId}`, version, firstName: "B" }) as unknown as Contact;
    const { id } = copy(1);
    // Another isolate handled the webhook of version 2.
    await env.CACHE.put(tombstoneKey(connectionId, id), JSON.stringify({ minVersion: 2, at: start }));

    // A read of version 1 that began earlier lands its copy afterwards: KV takes it, reads ignore it.
    expect(await cache.store(copy(1), undefined, start + 20, start - 50)).toBe("written");
    expect(await cache.get(id, start + 30)).toBeNull();
    expect(await cache.get(id, start + 86_400_000)).toBeNull();
    // The change's own version (or newer) counts again.
    clock = start + 2000;
    expect(await cache.store(copy(2), null, start + 2000, start + 1900)).toBe("written");
    expect((await cache.get(id, start + 2001))?.contact.version).toBe(2);
  });

  it("a tombstone of unknown version (a failed write, a delete) outranks copies read before it, not after", async () => {
    const { connectionId } = await newConnection();
    const start = Date.now();
    let clock = start;
    const { kv } = productionLikeKv(env.CACHE, { now: () => clock });
    const cache = new ContactCache(kv, connectionId, 60, { memoryTtlMs: 0 });
    const copy = { id: `ct_unknown_${connectionId}`, version: 7, firstName: "U" } as unknown as Contact;
    await env.CACHE.put(tombstoneKey(connectionId, copy.id), JSON.stringify({ minVersion: null, at: start }));

    expect(await cache.store(copy, undefined, start + 10, start - 1)).toBe("written");
    expect(await cache.get(copy.id, start + 20)).toBeNull();
    clock = start + 2000;
    expect(await cache.store(copy, null, start + 2000, start + 1)).toBe("written");
    expect((await cache.get(copy.id, start + 2001))?.contact.version).toBe(7);
  });

  it("a delete outranks the copies read before it, whichever isolate writes them back", async () => {
    const { connectionId, apiKey } = await newConnection();
    const contact = await someContact(apiKey);
    const { kv } = productionLikeKv(env.CACHE);
    const { service } = await serviceFor(connectionId, kv);
    expect((await service.get(contact.id)).cache).toBe("MISS");
    const res = await api(`/api/v1/contacts/${contact.id}`, { key: apiKey, method: "DELETE" });
    expect(res.status).toBe(204);
    // Another isolate still holding the last copy writes it back after the delete.
    const late = new ContactCache(kv, connectionId, 60, { memoryTtlMs: 0 });
    await env.CACHE.put(
      `contact:${connectionId}:${contact.id}`,
      JSON.stringify({ contact, storedAt: Date.now(), readAt: Date.now() - 60_000 }),
    );
    expect(await late.get(contact.id)).toBeNull();
  });
});

describe("a hot key read from memory for CACHE_MEMORY_TTL_MS", () => {
  const copy = (connectionId: string, version: number) =>
    ({ id: `ct_memory_${connectionId}`, version, firstName: "M" }) as unknown as Contact;

  it("reads KV at most once per memory TTL, sees a change dropped in this isolate at once and one dropped elsewhere within the TTL", async () => {
    const { connectionId } = await newConnection();
    const start = Date.now();
    let clock = start;
    const { kv, counts } = productionLikeKv(env.CACHE, { now: () => clock });
    const cache = new ContactCache(kv, connectionId, 60, { memoryTtlMs: MEMORY_TTL_MS });
    const id = copy(connectionId, 1).id;

    expect(await cache.store(copy(connectionId, 1), undefined, start)).toBe("written");
    for (let ms = 0; ms < MEMORY_TTL_MS; ms += 100) {
      expect((await cache.get(id, start + ms))?.contact.version).toBe(1);
    }
    expect(counts.gets).toBe(0);
    // Past the TTL, KV is asked again, then the copy it gave is held for another TTL.
    expect((await cache.get(id, start + MEMORY_TTL_MS))?.contact.version).toBe(1);
    expect((await cache.get(id, start + MEMORY_TTL_MS + 500))?.contact.version).toBe(1);
    expect(counts.gets).toBe(1);

    // Dropped by another isolate (a webhook handled elsewhere): seen here once the TTL is over.
    await env.CACHE.delete(`contact:${connectionId}:${id}`);
    expect(await cache.get(id, start + 2 * MEMORY_TTL_MS - 1)).not.toBeNull();
    expect(await cache.get(id, start + 2 * MEMORY_TTL_MS)).toBeNull();

    // Dropped in this isolate: at once.
    await env.CACHE.put(
      `contact:${connectionId}:${id}`,
      JSON.stringify({ contact: copy(connectionId, 2), storedAt: start }),
    );
    const now = start + 3 * MEMORY_TTL_MS;
    clock = now;
    expect((await cache.get(id, now))?.contact.version).toBe(2);
    await cache.invalidate(id, null, now);
    expect(await cache.get(id, now + 1)).toBeNull();
  });

  it("does not hold a copy whose KV read was overtaken by this isolate's own invalidation", async () => {
    const { connectionId } = await newConnection();
    const id = copy(connectionId, 1).id;
    const key = `contact:${connectionId}:${id}`;
    await env.CACHE.put(key, JSON.stringify({ contact: copy(connectionId, 1), storedAt: Date.now() }));
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let readDone: () => void = () => {};
    const read = new Promise<void>((resolve) => {
      readDone = resolve;
    });
    let gets = 0;
    const slowKv = {
      get: async (k: string, type: "json") => {
        gets += 1;
        const value = await env.CACHE.get(k, type);
        if (gets === 1) {
          readDone();
          await gate;
        }
        return value;
      },
      put: env.CACHE.put.bind(env.CACHE),
      delete: env.CACHE.delete.bind(env.CACHE),
    } as unknown as KVNamespace;
    const cache = new ContactCache(slowKv, connectionId, 60, { memoryTtlMs: MEMORY_TTL_MS });
    const now = Date.now();
    const inFlight = cache.get(id, now);
    await read;
    await cache.invalidate(id, null, now + 1);
    release();
    // The read that began before the change answers what it found, but nothing keeps it.
    expect((await inFlight)?.contact.version).toBe(1);
    expect(await cache.get(id, now + 2)).toBeNull();
    expect(gets).toBe(2);
  });

  it("asks KV on every read with a memory TTL of 0", async () => {
    const { connectionId } = await newConnection();
    const { kv, counts } = productionLikeKv(env.CACHE);
    const cache = new ContactCache(kv, connectionId, 60, { memoryTtlMs: 0 });
    const now = Date.now();
    await cache.store(copy(connectionId, 1), undefined, now);
    for (let i = 0; i < 3; i++)
      expect((await cache.get(copy(connectionId, 1).id, now + i))?.contact.version).toBe(1);
    expect(counts.gets).toBe(3);
  });
});
