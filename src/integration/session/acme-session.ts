import { DurableObject } from "cloudflare:workers";
import { loadIntegrationConfig } from "../config.ts";
import { setConnectionStatus } from "../connections/connection-store.ts";
import { FLUSH_INTERVAL_MS, KEPT_MINUTES, MinuteCounters, type MinutePoint } from "./minute-counters.ts";
import {
  AHEAD_TTL_MS,
  type AttemptReport,
  type BeginRequest,
  type BeginResult,
  type RotatedRefreshToken,
  type TokenFailure,
  type TokenGrant,
} from "./protocol.ts";
import type { RequestTally } from "./request-tally.ts";
import { SessionState } from "./session-state.ts";
import { isUsable, LEASE_MS, type Lease, leaseActive, type StoredToken } from "./token-lease.ts";

/** The token as stored, with its lifetime (ms), so a short-lived token is refreshed at half of it. */
export interface StoredTokenRecord extends StoredToken {
  lifetimeMs: number;
}

/**
 * How the connection's token exchanges went: when one last succeeded and, if the latest failed,
 * why (times epoch ms). Stored, so the console can tell "never verified" and "refused" apart
 * from "fine" after the session restarts.
 */
export interface TokenHistory {
  obtainedAt: number | null;
  failure: (TokenFailure & { at: number }) | null;
}

/**
 * An OAuth connection's grant: the refresh token, sealed with ENCRYPTION_KEYS (AAD
 * `${connectionId}:refresh`), and the connection it belongs to (for the AAD and D1's status).
 */
export interface StoredGrant {
  connectionId: string;
  refreshToken: string;
}

/** Set when Acme refused the connection's OAuth grant: calls are refused until a new grant is installed. */
export interface NeedsReauth {
  /** Epoch ms. */
  at: number;
  detail: string;
}

const NEEDS_REAUTH: BeginResult["permit"] = { admitted: false, reason: "needs_reauth", retryAfterMs: 0 };
const TOKEN_KEY = "token";
const TOKEN_HISTORY_KEY = "token-history";
const GRANT_KEY = "grant";
const NEEDS_REAUTH_KEY = "needs-reauth";

/**
 * The integration's state for one connection (one instance per connection id): the Acme access
 * token, refreshed by one caller at a time (single flight), and the throttle budgets, circuit
 * breaker and counters that decide whether and when a call may go to Acme. Calls for one
 * connection meet here from every Worker, so the decisions hold across the fleet.
 *
 * An OAuth connection's refresh token lives here too, sealed. Acme rotates it on every refresh
 * and revokes the whole grant when a used one comes back, so it goes out only with the lease,
 * to one holder at a time, and the rotated one is stored before the access token it came with
 * reaches anyone (storeToken). `invalid_grant` marks the connection needs_reauth (refuseGrant):
 * begin refuses every call from then on, without a call to Acme, until installGrant.
 */
export class AcmeSession extends DurableObject<Env> {
  private lease: Lease | null = null;
  private waiters: Array<() => void> = [];
  private readonly state: SessionState;
  private readonly startedAt = Date.now();
  private readonly minutes: MinuteCounters;
  /** Whether an alarm is set to write the per-minute figures waiting in memory. */
  private flushScheduled = false;
  /** The `now` of the last report, epoch ms. */
  private lastRecordedAt: number | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.state = new SessionState(loadIntegrationConfig(env).breaker);
    this.minutes = new MinuteCounters(ctx.storage.sql);
    void ctx.blockConcurrencyWhile(async () => this.minutes.migrate());
  }

  /**
   * Admission for one attempt: refused at once (circuit open, or no rate slot within
   * `maxWaitMs`), or admitted after `waitMs` with a token or the lease to fetch one.
   */
  async begin(input: BeginRequest): Promise<BeginResult> {
    if (input.unused) {
      this.state.giveBack(Date.now(), input.rateClass, input.unused.window, input.unused.count);
    }
    if (this.needsReauth()) return { permit: NEEDS_REAUTH, grant: null };
    const permit = this.state.admit(Date.now(), input.rateClass, input.priority, input.maxWaitMs);
    if (!permit.admitted) return { permit, grant: null };
    const grant = await this.tokenOrLease(Date.now(), permit.waitMs);
    // Refused while it waited for another caller's refresh.
    if (!grant) return { permit: NEEDS_REAUTH, grant: null };
    // Slots ahead only with a token to use them with, and for a call that goes now: a caller
    // that has to wait or probe is not in a stretch of calls that go freely.
    if (!input.ahead || grant.kind !== "token" || permit.waitMs > 0 || permit.probe) return { permit, grant };
    const now = Date.now();
    const ahead = this.state.reserveAhead(now, input.rateClass, input.priority, input.ahead, AHEAD_TTL_MS);
    if (!ahead) return { permit, grant };
    return { permit, grant, ahead: { count: ahead.count, window: ahead.window, validMs: ahead.until - now } };
  }

  /**
   * Records what attempts learned (Acme's health and its rate-limit figures) and counts them per
   * minute, with the integration's request tallies that came in the same batch.
   */
  record(attempts: AttemptReport[], requests: RequestTally[] = [], now: number = Date.now()): void {
    for (const report of attempts) this.state.record(now, report);
    this.minutes.add(attempts, requests, now);
    this.lastRecordedAt = now;
    if (this.minutes.flushDue(now)) this.flushMinutes(now);
    else this.scheduleFlush();
  }

  /** The last `minutes` minutes (at most 24 hours) of per-minute figures, oldest first. */
  minuteSeries(minutes = 60, now: number = Date.now()): MinutePoint[] {
    this.flushMinutes(now);
    return this.minutes.series(now, Math.min(Math.max(1, minutes), KEPT_MINUTES));
  }

  /** How many minutes of figures are stored (pruned to the last 24 hours). */
  storedMinutes(): number {
    this.flushMinutes(Date.now());
    return this.minutes.storedMinutes();
  }

  /** Writes the per-minute figures waiting in memory (the alarm set when they began to wait). */
  override async alarm(): Promise<void> {
    this.flushScheduled = false;
    // On the clock the figures came with (the same as Date.now() unless a test injects time).
    this.flushMinutes(this.lastRecordedAt ?? Date.now());
  }

  private flushMinutes(now: number): void {
    if (this.minutes.hasPending) this.ctx.storage.transactionSync(() => this.minutes.flush(now));
  }

  /** An alarm, once, so figures waiting in memory are written even if no batch comes after them. */
  private scheduleFlush(): void {
    if (this.flushScheduled || !this.minutes.hasPending) return;
    this.flushScheduled = true;
    void this.ctx.storage.setAlarm(Date.now() + FLUSH_INTERVAL_MS);
  }

  /** A KV write or delete of a cached contact failed (the read or write went on). */
  recordCacheWriteFailure(): void {
    this.state.recordCacheWriteFailure();
  }

  /** A read was answered from a stale cached copy because Acme failed. */
  recordStaleFallback(): void {
    this.state.recordStaleFallback();
  }

  /**
   * Circuit, budgets, token expiry (never the token), when a token was last obtained, why the
   * latest token exchange failed if it did, and counters since this session started.
   */
  status() {
    const token = this.ctx.storage.kv.get<StoredTokenRecord>(TOKEN_KEY);
    const history = this.tokenHistory();
    const reauth = this.needsReauth();
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      ...this.state.snapshot(Date.now()),
      needsReauth: reauth ? { since: iso(reauth.at), detail: reauth.detail } : null,
      token: token ? { expiresAt: iso(token.expiresAt) } : null,
      tokenObtainedAt: history.obtainedAt === null ? null : iso(history.obtainedAt),
      tokenFailure: history.failure
        ? { code: history.failure.code, detail: history.failure.detail, at: iso(history.failure.at) }
        : null,
      since: iso(this.startedAt),
    };
  }

  private tokenHistory(): TokenHistory {
    return this.ctx.storage.kv.get<TokenHistory>(TOKEN_HISTORY_KEY) ?? { obtainedAt: null, failure: null };
  }

  /**
   * A usable token, or the lease to fetch one (as begin hands them out, without admission).
   * Throws once the connection needs reauthorization.
   */
  async acquireToken(now: number = Date.now()): Promise<TokenGrant> {
    const grant = await this.tokenOrLease(now, 0);
    if (!grant) throw new Error("the connection needs reauthorization");
    return grant;
  }

  private needsReauth(): NeedsReauth | null {
    return this.ctx.storage.kv.get<NeedsReauth>(NEEDS_REAUTH_KEY) ?? null;
  }

  /**
   * A usable token, or the lease to fetch one (valid `waitMs` longer, for a caller that first
   * waits that long for its rate slot); null once the connection needs reauthorization. Callers
   * waiting on another's lease park here.
   *
   * An OAuth lease carries the refresh token. A lease runs out only if its holder vanished or
   * overran it (it never presents the token past `validMs`), and the next holder then presents
   * the same token again. Whether Acme processed the first presentation is unknown, but either
   * way nothing is lost by that: if it did, the rotated token it issued never reached this
   * session, so the grant is of no more use to us (Acme will see a reuse, revoke the grant, and
   * the connection needs reauthorization, as it would anyway); if it did not (the request died
   * on the way, or Acme failed before rotating), presenting it again recovers the connection.
   */
  private async tokenOrLease(now: number, waitMs: number): Promise<TokenGrant | null> {
    for (;;) {
      if (this.needsReauth()) return null;
      const token = this.ctx.storage.kv.get<StoredTokenRecord>(TOKEN_KEY) ?? null;
      if (isUsable(token, now, token?.lifetimeMs)) {
        return { kind: "token", accessToken: token.accessToken, expiresAt: token.expiresAt };
      }
      if (!leaseActive(this.lease, Date.now())) {
        const grant = this.ctx.storage.kv.get<StoredGrant>(GRANT_KEY);
        const validMs = waitMs + LEASE_MS;
        this.lease = { id: crypto.randomUUID(), until: Date.now() + validMs };
        return {
          kind: "lease",
          leaseId: this.lease.id,
          ...(grant ? { refresh: { sealedToken: grant.refreshToken, validMs } } : {}),
        };
      }
      await this.waitForLease(this.lease.until - Date.now());
      now = Date.now();
    }
  }

  /**
   * The leaseholder's new token; it wakes the callers waiting for it. An OAuth connection's
   * comes with its rotated refresh token, stored in the same write, and only while the session
   * still holds the one presented (false otherwise: the grant was replaced or refused meanwhile,
   * and neither token is kept).
   */
  storeToken(
    leaseId: string,
    accessToken: string,
    expiresInSeconds: number,
    refresh?: RotatedRefreshToken,
    now: number = Date.now(),
  ): boolean {
    if (refresh) {
      const grant = this.ctx.storage.kv.get<StoredGrant>(GRANT_KEY);
      if (!grant || grant.refreshToken !== refresh.presented || this.needsReauth()) {
        this.releaseLease(leaseId);
        return false;
      }
      this.ctx.storage.kv.put<StoredGrant>(GRANT_KEY, { ...grant, refreshToken: refresh.next });
    }
    const lifetimeMs = expiresInSeconds * 1000;
    this.ctx.storage.kv.put<StoredTokenRecord>(TOKEN_KEY, {
      accessToken,
      expiresAt: now + lifetimeMs,
      lifetimeMs,
    });
    this.ctx.storage.kv.put<TokenHistory>(TOKEN_HISTORY_KEY, { obtainedAt: now, failure: null });
    this.releaseLease(leaseId);
    return true;
  }

  /**
   * Installs an OAuth grant (a new connection's, or a repair's): the sealed refresh token, the
   * access token issued with it, valid `expiresInSeconds`; clears needs_reauth and the last
   * token failure. A lease out on the previous grant can no longer store anything (storeToken
   * checks the refresh token it presented). D1's status is the caller's (installOAuthGrant).
   */
  installGrant(
    connectionId: string,
    sealedRefreshToken: string,
    accessToken: string,
    expiresInSeconds: number,
    now: number = Date.now(),
  ): void {
    this.ctx.storage.kv.put<StoredGrant>(GRANT_KEY, { connectionId, refreshToken: sealedRefreshToken });
    this.ctx.storage.kv.delete(NEEDS_REAUTH_KEY);
    const lifetimeMs = expiresInSeconds * 1000;
    this.ctx.storage.kv.put<StoredTokenRecord>(TOKEN_KEY, {
      accessToken,
      expiresAt: now + lifetimeMs,
      lifetimeMs,
    });
    this.ctx.storage.kv.put<TokenHistory>(TOKEN_HISTORY_KEY, { obtainedAt: now, failure: null });
    if (this.lease) this.releaseLease(this.lease.id);
  }

  /**
   * Acme refused the grant the holder of `leaseId` presented (`presented`, the sealed refresh
   * token its lease carried; null: it had none): the connection needs reauthorization. Its tokens
   * are dropped, every call is refused from now on (begin), and D1's status says so. Ignored
   * when the session holds another grant by now (installed meanwhile).
   */
  async refuseGrant(
    leaseId: string,
    connectionId: string,
    presented: string | null,
    detail: string,
    now: number = Date.now(),
  ): Promise<void> {
    const grant = this.ctx.storage.kv.get<StoredGrant>(GRANT_KEY);
    if ((grant?.refreshToken ?? null) !== presented) {
      this.releaseLease(leaseId);
      return;
    }
    this.ctx.storage.kv.put<NeedsReauth>(NEEDS_REAUTH_KEY, { at: now, detail: detail.slice(0, 500) });
    this.ctx.storage.kv.delete(GRANT_KEY);
    this.ctx.storage.kv.delete(TOKEN_KEY);
    // Wakes the waiters, who now find the connection refused.
    this.releaseLease(leaseId, { code: "connection_needs_reauth", detail });
    await setConnectionStatus(this.env.DB, grant?.connectionId ?? connectionId, "needs_reauth");
  }

  /**
   * The stored refresh token, sealed, for re-sealing with a newer key; null when there is none or
   * a lease is out with it (its refresh stores a token sealed with the current key anyway).
   */
  sealedRefreshToken(): StoredGrant | null {
    const grant = this.ctx.storage.kv.get<StoredGrant>(GRANT_KEY);
    if (!grant || leaseActive(this.lease, Date.now())) return null;
    return grant;
  }

  /**
   * Replaces the sealed refresh token `presented` by `resealed` (the same token sealed with
   * another key), only if it is still the one stored and no lease is out with it; false otherwise.
   */
  replaceSealedRefreshToken(presented: string, resealed: string): boolean {
    const grant = this.ctx.storage.kv.get<StoredGrant>(GRANT_KEY);
    if (grant?.refreshToken !== presented || leaseActive(this.lease, Date.now())) return false;
    this.ctx.storage.kv.put<StoredGrant>(GRANT_KEY, { ...grant, refreshToken: resealed });
    return true;
  }

  /**
   * The leaseholder failed to get a token; the next waiter takes the lease. `failure` (why) is
   * kept for the status until a token is obtained again, whoever held the lease.
   */
  releaseLease(leaseId: string, failure?: TokenFailure, now: number = Date.now()): void {
    if (failure) {
      this.ctx.storage.kv.put<TokenHistory>(TOKEN_HISTORY_KEY, {
        obtainedAt: this.tokenHistory().obtainedAt,
        failure: { code: failure.code.slice(0, 100), detail: failure.detail.slice(0, 500), at: now },
      });
    }
    if (this.lease?.id !== leaseId) return;
    this.lease = null;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  /** Acme refused `accessToken` (401): forget it so the next caller refreshes, once. */
  invalidateToken(accessToken: string): void {
    const token = this.ctx.storage.kv.get<StoredTokenRecord>(TOKEN_KEY);
    if (token?.accessToken === accessToken) this.ctx.storage.kv.delete(TOKEN_KEY);
  }

  private waitForLease(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, ms));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
