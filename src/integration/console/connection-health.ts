import { and, asc, count, desc, eq, gt, inArray, isNotNull, isNull, lt, or } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { findConnection } from "../connections/connection-store.ts";
import { apiKeys, type ConnectionRow, connections, contactMirror } from "../db/schema.ts";
import type { AcmeSession } from "../session/acme-session.ts";
import { acmeSessionStub } from "../session/session-stub.ts";
import { containsText } from "./filters.ts";
import { keysetPage } from "./paging.ts";

/** The connection's AcmeSession status (circuit, budgets, token expiry, counters). */
export type SessionStatus = ReturnType<AcmeSession["status"]>;

/** What the console shows about one connection; never a secret (only whether one is set). */
export interface ConnectionHealth {
  id: string;
  name: string;
  acmeBaseUrl: string | null;
  acmeClientId: string;
  webhooksConfigured: boolean;
  /** Reconciliation has pulled Acme's changes up to this instant (ISO 8601), or never ran. */
  reconciledThrough: string | null;
  createdAt: string;
  /** Live contacts in the connection's mirror. */
  mirrorSize: number;
  status: SessionStatus;
  /** The largest share (0-1) of an Acme rate class's quota used in its current window; null until learned. */
  quotaUsed: number | null;
  verdict: HealthVerdict;
}

/** One word for the dashboard, and why. */
export interface HealthVerdict {
  level: "healthy" | "degraded" | "failing";
  reason: string;
}

/** The most used rate class's share of its quota in the current window (null until a limit is learned). */
export function quotaUsed(budgets: SessionStatus["budgets"]): number | null {
  let most: number | null = null;
  for (const budget of Object.values(budgets)) {
    if (budget.limit === null || budget.limit <= 0 || budget.remaining === null) continue;
    const share = (budget.limit - budget.remaining) / budget.limit;
    most = Math.max(most ?? 0, Math.min(1, Math.max(0, share)));
  }
  return most;
}

/** Failing while the circuit refuses calls; degraded while it probes or while no webhooks arrive. */
export function healthVerdict(
  status: SessionStatus,
  webhooksConfigured: boolean,
  now = Date.now(),
): HealthVerdict {
  if (status.circuit.state === "open") {
    return { level: "failing", reason: "Acme keeps failing: calls are refused until the circuit closes." };
  }
  if (status.circuit.state === "half_open") {
    return { level: "degraded", reason: "Recovering: a probe call decides whether the circuit closes." };
  }
  if (status.token && Date.parse(status.token.expiresAt) <= now) {
    return { level: "degraded", reason: "The Acme token has expired; the next call fetches a new one." };
  }
  if (!webhooksConfigured) {
    return { level: "degraded", reason: "No webhooks: Acme's changes arrive only by reconciliation." };
  }
  return { level: "healthy", reason: "Calls to Acme succeed and webhooks are configured." };
}

async function healthOf(env: Env, rows: ConnectionRow[]): Promise<ConnectionHealth[]> {
  const ids = rows.map((r) => r.id);
  const [sizes, statuses] = await Promise.all([
    ids.length === 0
      ? []
      : drizzle(env.DB)
          .select({ connectionId: contactMirror.connectionId, size: count() })
          .from(contactMirror)
          .where(and(inArray(contactMirror.connectionId, ids), isNull(contactMirror.deletedAt)))
          .groupBy(contactMirror.connectionId),
    Promise.all(ids.map((id) => acmeSessionStub(env, id).status() as Promise<SessionStatus>)),
  ]);
  const sizeOf = new Map(sizes.map((s) => [s.connectionId, s.size]));
  return rows.map((row, i) => {
    const status = statuses[i] as SessionStatus;
    const webhooksConfigured = row.webhookSecretEnc !== null;
    return {
      id: row.id,
      name: row.name,
      acmeBaseUrl: row.acmeBaseUrl,
      acmeClientId: row.acmeClientId,
      webhooksConfigured,
      reconciledThrough: row.reconciledThrough,
      createdAt: row.createdAt,
      mirrorSize: sizeOf.get(row.id) ?? 0,
      status,
      quotaUsed: quotaUsed(status.budgets),
      verdict: healthVerdict(status, webhooksConfigured),
    };
  });
}

/** Connections are shown this many to a page (each one asks its Durable Object for its status). */
export const CONNECTIONS_PAGE_SIZE = 20;

/**
 * A page of connections in id order after `after`, with the cursor of the next page; `search`
 * keeps those whose name or id contains it.
 */
export async function listConnectionHealth(
  env: Env,
  after: string | undefined,
  search?: string,
): Promise<{ data: ConnectionHealth[]; nextAfter: string | null }> {
  const rows = await drizzle(env.DB)
    .select()
    .from(connections)
    .where(
      and(
        after ? gt(connections.id, after) : undefined,
        search ? or(containsText(connections.name, search), containsText(connections.id, search)) : undefined,
      ),
    )
    .orderBy(asc(connections.id))
    .limit(CONNECTIONS_PAGE_SIZE + 1);
  const page = keysetPage(rows, CONNECTIONS_PAGE_SIZE, (row) => row.id);
  return { data: await healthOf(env, page.data), nextAfter: page.next };
}

/** One connection's health and its row (for Acme calls), or null when it does not exist. */
export async function connectionHealth(
  env: Env,
  id: string,
): Promise<{ row: ConnectionRow; health: ConnectionHealth } | null> {
  const row = await findConnection(env.DB, id);
  if (!row) return null;
  const [health] = await healthOf(env, [row]);
  return health ? { row, health } : null;
}

/** API keys are listed this many to a page, newest first (a connection may have many). */
export const API_KEYS_PAGE_SIZE = 20;

/** Which of a connection's API keys a page lists: `search` is in the prefix or id; `state` active or revoked. */
export interface ApiKeyFilter {
  search?: string | undefined;
  state?: "active" | "revoked" | undefined;
}

/**
 * A page of a connection's API keys older than key `before` (prefix only: the secret is never
 * stored), newest first, those `filter` keeps, and the next page's cursor.
 */
export async function listApiKeys(
  env: Env,
  connectionId: string,
  before: string | undefined,
  filter: ApiKeyFilter = {},
) {
  const rows = await drizzle(env.DB)
    .select({
      id: apiKeys.id,
      prefix: apiKeys.prefix,
      createdAt: apiKeys.createdAt,
      revokedAt: apiKeys.revokedAt,
    })
    .from(apiKeys)
    .where(
      and(
        eq(apiKeys.connectionId, connectionId),
        before ? lt(apiKeys.id, before) : undefined,
        filter.search
          ? or(containsText(apiKeys.prefix, filter.search), containsText(apiKeys.id, filter.search))
          : undefined,
        filter.state === "active" ? isNull(apiKeys.revokedAt) : undefined,
        filter.state === "revoked" ? isNotNull(apiKeys.revokedAt) : undefined,
      ),
    )
    .orderBy(desc(apiKeys.id))
    .limit(API_KEYS_PAGE_SIZE + 1);
  const page = keysetPage(rows, API_KEYS_PAGE_SIZE, (row) => row.id);
  return { data: page.data, nextBefore: page.next };
}
