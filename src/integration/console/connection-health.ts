import { and, asc, desc, eq, gt, isNotNull, isNull, lt, or } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { ConnectionDataOverview } from "../connection-data/connection-data.ts";
import type { ReconcileState } from "../connection-data/schedule.ts";
import type { JobRow } from "../connection-data/schema.ts";
import { connectionData } from "../connection-data/stub.ts";
import { findConnection } from "../connections/connection-store.ts";
import { containsText } from "../db/contains-text.ts";
import { apiKeys, type ConnectionRow, connections } from "../db/schema.ts";
import type { AcmeSession } from "../session/acme-session.ts";
import { acmeSessionStub } from "../session/session-stub.ts";
import { keysetPage } from "./paging.ts";

/** The connection's AcmeSession status (circuit, budgets, token expiry, counters). */
export type SessionStatus = ReturnType<AcmeSession["status"]>;

/** The connection's last finished backfill or reconciliation (cancelled ones aside). */
export interface LastSync {
  kind: "backfill" | "reconcile";
  status: "succeeded" | "failed";
  /** Why it failed, for the operator; null when it succeeded. */
  failure: string | null;
  finishedAt: string | null;
}

/** What the console shows about one connection; never a secret (only whether one is set). */
export interface ConnectionHealth {
  id: string;
  name: string;
  acmeBaseUrl: string | null;
  acmeClientId: string;
  /** How the connection reaches Acme (client credentials, or an OAuth grant from the connect flow). */
  method: ConnectionRow["method"];
  /** The product's id for the customer who connected; null for operator-made connections. */
  endUserId: string | null;
  /** Whether Acme refused the connection's OAuth grant: it needs a reconnect (connect session). */
  needsReauth: boolean;
  webhooksConfigured: boolean;
  /** Reconciliation has pulled Acme's changes up to this instant (ISO 8601), or never ran. */
  reconciledThrough: string | null;
  createdAt: string;
  /** Live contacts in the connection's mirror. */
  mirrorSize: number;
  status: SessionStatus;
  /** The largest share (0-1) of an Acme rate class's quota used in its current window; null until learned. */
  quotaUsed: number | null;
  lastSync: LastSync | null;
  /** The reconciliation schedule kept by the connection's object: next due, last started, a failure to start. */
  reconcile: ReconcileState;
  verdict: HealthVerdict;
}

/** How a connection is doing, worst first; "unknown" until a call to Acme has been verified. */
export const HEALTH_LEVELS = ["failing", "degraded", "unknown", "healthy"] as const;
export type HealthLevel = (typeof HEALTH_LEVELS)[number];

/** One word for the dashboard, and why (every problem found, worst first). */
export interface HealthVerdict {
  level: HealthLevel;
  reason: string;
}

/** The facts a verdict is drawn from. */
export interface HealthInputs {
  status: SessionStatus;
  /** Acme refused the OAuth grant (D1's status, or the session's own mark). */
  needsReauth?: boolean;
  webhooksConfigured: boolean;
  lastSync: LastSync | null;
  /** The reconciliation schedule (absent: not known). */
  reconcile?: ReconcileState;
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

const SYNC_NAMES: Record<LastSync["kind"], string> = { backfill: "backfill", reconcile: "reconciliation" };

/** Every problem the facts show, each with how bad it is; none means healthy. */
function healthProblems(inputs: HealthInputs, now: number): { level: HealthLevel; reason: string }[] {
  const { status, lastSync } = inputs;
  const problems: { level: HealthLevel; reason: string }[] = [];
  const verified = status.tokenObtainedAt !== null || status.token !== null;
  if (inputs.needsReauth) {
    problems.push({
      level: "failing",
      reason:
        "Needs reauthorization: Acme refused the OAuth grant, so calls fail at once. Reconnect: send the end user a new connect link.",
    });
  }
  if (status.tokenFailure?.code === "acme_auth_failed") {
    problems.push({
      level: "failing",
      reason: verified
        ? "Acme refused the connection's client credentials at the last token request."
        : "Acme refused the connection's client credentials: no token has ever been obtained.",
    });
  } else if (status.tokenFailure) {
    problems.push({
      level: "degraded",
      reason: `The last token request failed: ${status.tokenFailure.detail}`,
    });
  }
  if (status.circuit.state === "open") {
    problems.push({
      level: "failing",
      reason: "Acme keeps failing: calls are refused until the circuit closes.",
    });
  } else if (status.circuit.state === "half_open") {
    problems.push({
      level: "degraded",
      reason: "Recovering: a probe call decides whether the circuit closes.",
    });
  } else if (status.circuit.recentFailures > 0) {
    problems.push({
      level: "degraded",
      reason: `${status.circuit.recentFailures} recent calls to Acme failed (5xx, timeout or no answer).`,
    });
  }
  if (lastSync?.status === "failed") {
    problems.push({
      level: "failing",
      reason: `The last ${SYNC_NAMES[lastSync.kind]} failed${lastSync.failure ? `: ${lastSync.failure}` : "."}`,
    });
  }
  const stuck = inputs.reconcile?.failure;
  if (stuck) {
    problems.push({
      level: "degraded",
      reason: `The scheduled reconciliation could not start (${stuck.attempts} attempts; retrying): ${stuck.message}`,
    });
  }
  if (!verified && !status.tokenFailure) {
    problems.push({ level: "unknown", reason: "Not verified yet: no call to Acme has succeeded." });
  }
  if (status.token && Date.parse(status.token.expiresAt) <= now) {
    problems.push({
      level: "degraded",
      reason: "The Acme token has expired; the next call fetches a new one.",
    });
  }
  if (!inputs.webhooksConfigured) {
    problems.push({
      level: "degraded",
      reason: "No webhook subscription: Acme's changes arrive only by reconciliation.",
    });
  }
  return problems;
}

/**
 * The connection's health from the facts: failing when Acme refuses its credentials, the circuit
 * is open or the last sync failed; degraded while recovering, after recent failures or without
 * webhooks; unknown until a token has been obtained; healthy only when none of these holds.
 */
export function healthVerdict(inputs: HealthInputs, now = Date.now()): HealthVerdict {
  const problems = healthProblems(inputs, now);
  if (problems.length === 0) {
    return {
      level: "healthy",
      reason: "A token was obtained from Acme, no call failed recently and webhooks are subscribed.",
    };
  }
  const rank = (level: HealthLevel) => HEALTH_LEVELS.indexOf(level);
  problems.sort((a, b) => rank(a.level) - rank(b.level));
  return {
    level: problems[0]?.level ?? "unknown",
    reason: problems.map((p) => p.reason).join(" "),
  };
}

/** The last backfill or reconciliation that ended, as the console shows it. */
function toLastSync(job: JobRow | null): LastSync | null {
  if (!job) return null;
  return {
    kind: job.kind === "reconcile" ? "reconcile" : "backfill",
    status: job.status === "failed" ? "failed" : "succeeded",
    failure: job.failure,
    finishedAt: job.finishedAt,
  };
}

async function healthOf(env: Env, rows: ConnectionRow[]): Promise<ConnectionHealth[]> {
  // Each connection's data is in its own objects: one call to each, side by side.
  const [statuses, overviews] = await Promise.all([
    Promise.all(rows.map((row) => acmeSessionStub(env, row.id).status() as Promise<SessionStatus>)),
    Promise.all(rows.map((row) => connectionData(env, row.id).overview() as Promise<ConnectionDataOverview>)),
  ]);
  return rows.map((row, i) => {
    const status = statuses[i] as SessionStatus;
    const overview = overviews[i] as ConnectionDataOverview;
    const webhooksConfigured = row.webhookSecretEnc !== null;
    const lastSync = toLastSync(overview.lastSync);
    const needsReauth = row.status === "needs_reauth" || status.needsReauth !== null;
    return {
      id: row.id,
      name: row.name,
      acmeBaseUrl: row.acmeBaseUrl,
      acmeClientId: row.acmeClientId,
      method: row.method,
      endUserId: row.endUserId,
      needsReauth,
      webhooksConfigured,
      reconciledThrough: row.reconciledThrough,
      createdAt: row.createdAt,
      mirrorSize: overview.contacts,
      reconcile: overview.reconcile,
      status,
      quotaUsed: quotaUsed(status.budgets),
      lastSync,
      verdict: healthVerdict({
        status,
        needsReauth,
        webhooksConfigured,
        lastSync,
        reconcile: overview.reconcile,
      }),
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
