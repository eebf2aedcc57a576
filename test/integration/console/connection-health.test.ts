import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import {
  healthVerdict,
  quotaUsed,
  type SessionStatus,
} from "../../../src/integration/console/connection-health.ts";

import { SessionState } from "../../../src/integration/session/session-state.ts";
import { createClient } from "../../acme/helpers.ts";
import { sqlIn } from "../connection-data-helpers.ts";
import { consoleFetch, postForm, type SignedIn, signIn } from "./helpers.ts";

async function page(session: SignedIn, path: string): Promise<string> {
  const res = await consoleFetch(path, { cookie: session.cookie });
  expect(res.status, path).toBe(200);
  return res.text();
}

/** The connection's row on the connections table (the page of ids from just before it). */
async function tableRow(session: SignedIn, id: string): Promise<string> {
  const html = await page(session, `/console/connections/table?after=${encodeURIComponent(id.slice(0, -1))}`);
  const row = new RegExp(`<tr data-connection-id="${id}">.*?</tr>`, "s").exec(html)?.[0];
  if (!row) throw new Error(`no row for ${id}`);
  return row;
}

/** Waits until the connection's backfill has finished, and returns its status. */
async function backfillFinished(connectionId: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const [job] = await sqlIn<{ status: string }>(
      connectionId,
      "SELECT status FROM jobs WHERE kind = 'backfill' ORDER BY id DESC LIMIT 1",
    );
    if (job && job.status !== "queued" && job.status !== "running") return job.status;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the backfill did not finish");
}

const budget = (limit: number | null, remaining: number | null) => ({
  limit,
  windowSeconds: limit === null ? null : 10,
  remaining,
  scheduledNextWindow: 0,
  resetInMs: 0,
});

function status(overrides: Partial<SessionStatus> = {}): SessionStatus {
  return {
    circuit: { state: "closed", recentFailures: 0, retryAfterMs: 0 },
    budgets: { read: budget(100, 100), write: budget(50, 50), delete: budget(20, 20) },
    token: { expiresAt: new Date(Date.UTC(2026, 0, 1, 1)).toISOString() },
    tokenObtainedAt: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    tokenFailure: null,
    // A new session's counters, all zero, whatever counters it has.
    counters: { ...new SessionState().counters },
    since: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    ...overrides,
  } as SessionStatus;
}

const NOW = Date.UTC(2026, 0, 1, 0, 30);
const SYNCED = { kind: "backfill" as const, status: "succeeded" as const, failure: null, finishedAt: null };

describe("connection health", () => {
  it("reports the most used rate class's share of its window, ignoring classes not learned yet", () => {
    expect(quotaUsed({ read: budget(100, 60), write: budget(50, 10), delete: budget(null, null) })).toBe(0.8);
    expect(
      quotaUsed({ read: budget(null, null), write: budget(null, null), delete: budget(null, null) }),
    ).toBeNull();
    // A stale remaining above the limit, or below zero, stays within 0-100%.
    expect(quotaUsed({ read: budget(10, 12), write: budget(10, -3), delete: budget(0, 0) })).toBe(1);
  });

  it("is healthy only with a token obtained, a closed circuit without recent failures, a good last sync and webhooks", () => {
    const ok = { status: status(), webhooksConfigured: true, lastSync: SYNCED };
    expect(healthVerdict(ok, NOW).level).toBe("healthy");
    // A token obtained once is verification enough while the next is fetched.
    expect(healthVerdict({ ...ok, status: status({ token: null }) }, NOW).level).toBe("healthy");
    expect(healthVerdict({ ...ok, lastSync: null }, NOW).level).toBe("healthy");
    expect(healthVerdict({ ...ok, webhooksConfigured: false }, NOW)).toMatchObject({
      level: "degraded",
      reason: /No webhook subscription/,
    });
    const expired = status({ token: { expiresAt: new Date(NOW - 1).toISOString() } });
    expect(healthVerdict({ ...ok, status: expired }, NOW)).toMatchObject({
      level: "degraded",
      reason: /expired/,
    });
    const probing = status({ circuit: { state: "half_open", recentFailures: 5, retryAfterMs: 0 } });
    expect(healthVerdict({ ...ok, status: probing }, NOW).level).toBe("degraded");
    const open = status({ circuit: { state: "open", recentFailures: 9, retryAfterMs: 4000 } });
    expect(healthVerdict({ ...ok, status: open }, NOW).level).toBe("failing");
    const failures = status({ circuit: { state: "closed", recentFailures: 2, retryAfterMs: 0 } });
    expect(healthVerdict({ ...ok, status: failures }, NOW)).toMatchObject({
      level: "degraded",
      reason: /2 recent calls to Acme failed/,
    });
  });

  it("is never healthy before a token was obtained: not verified, or failing when Acme refused the credentials", () => {
    const unverified = status({ token: null, tokenObtainedAt: null });
    expect(healthVerdict({ status: unverified, webhooksConfigured: true, lastSync: null }, NOW)).toEqual({
      level: "unknown",
      reason: "Not verified yet: no call to Acme has succeeded.",
    });
    const refused = status({
      token: null,
      tokenObtainedAt: null,
      tokenFailure: {
        code: "acme_auth_failed",
        detail: "Acme refused this connection's client credentials.",
        at: new Date(NOW).toISOString(),
      },
    });
    const verdict = healthVerdict(
      {
        status: refused,
        webhooksConfigured: false,
        lastSync: {
          ...SYNCED,
          status: "failed",
          failure: "Acme refused this connection's client credentials.",
        },
      },
      NOW,
    );
    expect(verdict.level).toBe("failing");
    // Every reason, worst first.
    expect(verdict.reason).toBe(
      "Acme refused the connection's client credentials: no token has ever been obtained. " +
        "The last backfill failed: Acme refused this connection's client credentials. " +
        "No webhook subscription: Acme's changes arrive only by reconciliation.",
    );
    // A token exchange that failed for another reason (Acme down) degrades, it does not fail.
    const down = status({
      tokenFailure: {
        code: "acme_unavailable",
        detail: "Acme's token endpoint is unavailable.",
        at: new Date(NOW).toISOString(),
      },
    });
    expect(healthVerdict({ status: down, webhooksConfigured: true, lastSync: SYNCED }, NOW)).toMatchObject({
      level: "degraded",
      reason: /token request failed: Acme's token endpoint is unavailable/,
    });
  });

  it("is failing when the last backfill or reconciliation failed, whatever else holds", () => {
    const failed = { kind: "reconcile" as const, status: "failed" as const, failure: null, finishedAt: null };
    expect(healthVerdict({ status: status(), webhooksConfigured: true, lastSync: failed }, NOW)).toEqual({
      level: "failing",
      reason: "The last reconciliation failed.",
    });
  });
});

describe("console: connection health from the facts", () => {
  it("shows a connection whose credentials Acme refused as failing, with why, never as healthy", async () => {
    const client = await createClient();
    const session = await signIn();
    const created = await postForm(session, "/console/connections", {
      name: "Refused",
      acmeBaseUrl: "",
      acmeClientId: client.clientId,
      acmeClientSecret: `${client.clientSecret}x`,
      subscribe: "1",
    });
    expect(created.status).toBe(303);
    const location = created.headers.get("location") ?? "";
    expect(location).toMatch(/\?notice=subscribe-failed$/);
    const id = /\/console\/connections\/(conn_[a-z0-9]+)/.exec(location)?.[1] ?? "";
    expect(await backfillFinished(id)).toBe("failed");

    const overview = await page(session, `/console/connections/${id}`);
    expect(overview).toContain('data-health="failing"');
    expect(overview).not.toContain("badge healthy");
    expect(overview).toContain(
      "Acme refused the connection&#39;s client credentials: no token has ever been obtained.",
    );
    expect(overview).toContain(
      "The last backfill failed: Acme refused this connection&#39;s client credentials.",
    );
    expect(overview).toMatch(/<dt>Acme token<\/dt><dd><span>never obtained; the latest request failed <time/);
    expect(overview).toContain("<code>acme_auth_failed</code>");
    expect(overview).not.toContain(client.clientSecret);

    const row = await tableRow(session, id);
    expect(row).toContain('data-health="failing"');
    expect(row).toContain('<p class="muted reason">Acme refused');
  });

  it("shows a connection that never reached Acme as not verified, and one that did as healthy", async () => {
    const id = `conn_unverified_${crypto.randomUUID().replace(/-/g, "")}`;
    await env.DB.prepare(
      "INSERT INTO connections (id, name, acme_client_id, acme_client_secret_enc, webhook_secret_enc, created_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
      .bind(id, "Never called", "client", "sealed", "sealed", new Date().toISOString())
      .run();
    const session = await signIn();
    const overview = await page(session, `/console/connections/${id}`);
    expect(overview).toContain('data-health="unknown"');
    expect(overview).toContain(">not verified</span>");
    expect(overview).toContain("Not verified yet: no call to Acme has succeeded.");
    expect(overview).toContain('<dt>Last sync</dt><dd><span class="muted">none finished yet</span>');
    expect(await tableRow(session, id)).toContain('data-health="unknown"');
  });
});
