import type { Context } from "hono";
import { connectionData } from "../connection-data/stub.ts";
import type { IntegrationEnv } from "../context.ts";
import { acmeClientFor } from "../context.ts";
import { connectionMapping } from "../field-mappings/connection-mapping.ts";
import { acmeSessionStub } from "../session/session-stub.ts";
import { ContactCache } from "./contact-cache.ts";
import { ContactService } from "./contact-service.ts";

/**
 * The contact service for the request's connection: its Acme client (made only when a call to
 * Acme is needed), its slice of the KV cache (each write first noted in the connection's object),
 * its session, which counts stale reads and failed cache writes, and its custom-field mapping.
 */
export function createContactService(c: Context<IntegrationEnv>): ContactService {
  const { config, connection } = c.var;
  const session = () => acmeSessionStub(c.env, connection.id);
  return new ContactService(
    connection.id,
    () => acmeClientFor(c),
    new ContactCache(c.env.CACHE, connection.id, config.cacheTtlSeconds, {
      writeIntervalMs: config.cacheKeyWriteIntervalMs,
      memoryTtlMs: config.cacheMemoryTtlMs,
      onWriteFailure: () => session().recordCacheWriteFailure(),
      defer: c.var.defer,
      // The connection's object learns which contacts may be cached, so only their changes cost a KV write.
      beforeWrite: (contact, until) =>
        connectionData(c.env, connection.id).noteCached(contact.id, contact.version, until),
    }),
    { recordStaleFallback: () => session().recordStaleFallback() },
    (fresh) => connectionMapping(c.env, connection.id, { memoryTtlMs: config.cacheMemoryTtlMs, fresh }),
  );
}
