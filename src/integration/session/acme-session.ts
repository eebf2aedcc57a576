import { DurableObject } from "cloudflare:workers";
import { loadIntegrationConfig } from "../config.ts";
import { FLUSH_INTERVAL_MS, KEPT_MINUTES, MinuteCounters, type MinutePoint } from "./minute-counters.ts";
import {
  AHEAD_TTL_MS,
  type AttemptReport,
  type BeginRequest,
  type BeginResult,
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

const TOKEN_KEY = "token";
const TOKEN_HISTORY_KEY = "token-history";

/**
 * The integration's state for one connection (one instance per connection id): the Acme access
 * token, refreshed by one caller at a time (single flight), and the throttle budgets, circuit
 * breaker and counters that decide whether and when a call may go to Acme. Calls for one
 * connection meet here from every Worker, so the decisions hold across the fleet.
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
    const permit = this.state.admit(Date.now(), input.rateClass, input.priority, input.maxWaitMs);
    if (!permit.admitted) return { permit, grant: null };
    const grant = await this.acquireToken();
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
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      ...this.state.snapshot(Date.now()),
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

  /** A usable token, or the lease to fetch one. Callers waiting on another's lease park here. */
  async acquireToken(now: number = Date.now()): Promise<TokenGrant> {
    for (;;) {
      const token = this.ctx.storage.kv.get<StoredTokenRecord>(TOKEN_KEY) ?? null;
      if (isUsable(token, now, token?.lifetimeMs)) {
        return { kind: "token", accessToken: token.accessToken, expiresAt: token.expiresAt };
      }
      if (!leaseActive(this.lease, Date.now())) {
        this.lease = { id: crypto.randomUUID(), until: Date.now() + LEASE_MS };
        return { kind: "lease", leaseId: this.lease.id };
      }
      await this.waitForLease(this.lease.until - Date.now());
      now = Date.now();
    }
  }

  /** The leaseholder's new token; it wakes the callers waiting for it. */
  storeToken(leaseId: string, accessToken: string, expiresInSeconds: number, now: number = Date.now()): void {
    const lifetimeMs = expiresInSeconds * 1000;
    this.ctx.storage.kv.put<StoredTokenRecord>(TOKEN_KEY, {
      accessToken,
      expiresAt: now + lifetimeMs,
      lifetimeMs,
    });
    this.ctx.storage.kv.put<TokenHistory>(TOKEN_HISTORY_KEY, { obtainedAt: now, failure: null });
    this.releaseLease(leaseId);
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
