import { and, eq, isNull } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { MiddlewareHandler } from "hono";
import { sha256Hex, timingSafeEqualStrings } from "../../lib/crypto.ts";
import { ExpiringMap } from "../../lib/expiring-map.ts";
import { hasValidIdTag } from "../../lib/id-tag.ts";
import type { IntegrationEnv } from "../context.ts";
import { apiKeys, type ConnectionRow, connections } from "../db/schema.ts";
import { ApiError } from "../errors.ts";

/** Resolved keys are remembered per isolate this long (ms); revocation in this isolate is immediate. */
const KEY_CACHE_MS = 30_000;
const resolved = new ExpiringMap<string, ConnectionRow>(10_000);

/** Keys seen recently and their hashes, so a hot key is not hashed on every request. */
const hashes = new Map<string, string>();
const MAX_HASHES = 1000;

async function hashOf(key: string): Promise<string> {
  let hash = hashes.get(key);
  if (!hash) {
    hash = await sha256Hex(key);
    if (hashes.size >= MAX_HASHES) hashes.clear();
    hashes.set(key, hash);
  }
  return hash;
}

export function forgetApiKey(keyHash: string): void {
  resolved.delete(keyHash);
}

function bearer(header: string | undefined): string | null {
  const match = header ? /^Bearer[ ]+(\S+)$/i.exec(header.trim()) : null;
  return match?.[1] ?? null;
}

function unauthorized(detail: string): ApiError {
  return new ApiError("unauthorized", detail, {
    headers: { "WWW-Authenticate": 'Bearer realm="acme-bridge"' },
  });
}

/** `Authorization: Bearer <api key>`: the key's connection scopes everything the request touches. */
export function requireApiKey(): MiddlewareHandler<IntegrationEnv> {
  return async function apiKeyMiddleware(c, next) {
    const key = bearer(c.req.header("authorization"));
    if (!key) throw unauthorized("An API key is required: Authorization: Bearer <api key>.");
    // A key this deployment never issued is refused before the cache or D1 is consulted.
    if (!(await hasValidIdTag(c.var.config.idTagKey, key))) throw unauthorized("The API key is not valid.");
    const keyHash = await hashOf(key);
    let connection = resolved.get(keyHash);
    if (!connection) {
      const row = await drizzle(c.env.DB)
        .select({ connection: connections })
        .from(apiKeys)
        .innerJoin(connections, eq(apiKeys.connectionId, connections.id))
        .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt)))
        .get();
      if (!row) {
        resolved.delete(keyHash);
        throw unauthorized("The API key is not valid.");
      }
      connection = row.connection;
      resolved.set(keyHash, connection, KEY_CACHE_MS);
    }
    c.set("connection", connection);
    await next();
  };
}

export function requireAdmin(): MiddlewareHandler<IntegrationEnv> {
  return async function adminMiddleware(c, next) {
    const token = bearer(c.req.header("authorization"));
    if (!token || !(await timingSafeEqualStrings(token, c.var.config.adminToken))) {
      throw unauthorized("The admin token is missing or wrong.");
    }
    await next();
  };
}
