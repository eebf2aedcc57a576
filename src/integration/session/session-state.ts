import { type BreakerSettings, CircuitBreaker } from "../resilience/circuit-breaker.ts";
import { type AheadSlots, type Priority, RateBudget } from "../resilience/rate-budget.ts";
import { ACME_RATE_CLASSES, type AcmeRateClass, type AttemptReport, type CallPermit } from "./protocol.ts";

/** What the session has counted since it started, for the status route. */
export interface SessionCounters {
  /** Attempts made at Acme, counted as they are reported. */
  calls: number;
  retries: number;
  acme429s: number;
  throttledWaits: number;
  throttledRefusals: number;
  circuitRefusals: number;
  staleFallbacks: number;
  /** KV writes and deletes of cached contacts that failed (the reads went on). */
  cacheWriteFailures: number;
}

/**
 * Everything the integration knows about one Acme connection's health and limits, as plain
 * state: the AcmeSession Durable Object holds one, tests drive one with fake time.
 */
export class SessionState {
  private readonly budgets: Record<AcmeRateClass, RateBudget> = {
    read: new RateBudget(),
    write: new RateBudget(),
    delete: new RateBudget(),
  };
  private readonly breaker: CircuitBreaker;
  readonly counters: SessionCounters = {
    calls: 0,
    retries: 0,
    acme429s: 0,
    throttledWaits: 0,
    throttledRefusals: 0,
    circuitRefusals: 0,
    staleFallbacks: 0,
    cacheWriteFailures: 0,
  };

  constructor(breaker?: BreakerSettings) {
    this.breaker = new CircuitBreaker(breaker);
  }

  /** Whether an attempt may go now, after a wait for its rate slot, or not at all (circuit open, no slot in time). */
  admit(now: number, rateClass: AcmeRateClass, priority: Priority, maxWaitMs: number): CallPermit {
    const circuit = this.breaker.admit(now);
    if (!circuit.allowed) {
      this.counters.circuitRefusals += 1;
      return { admitted: false, reason: "circuit_open", retryAfterMs: circuit.retryAfterMs };
    }
    const slot = this.budgets[rateClass].reserve(now, priority, maxWaitMs);
    if (!slot.admitted) {
      if (circuit.probe) this.breaker.cancelProbe();
      if (slot.learning) return { admitted: false, reason: "learning", retryAfterMs: slot.retryAfterMs };
      this.counters.throttledRefusals += 1;
      return { admitted: false, reason: "rate_limited", retryAfterMs: slot.retryAfterMs };
    }
    if (slot.waitMs > 0) this.counters.throttledWaits += 1;
    return { admitted: true, waitMs: slot.waitMs, probe: circuit.probe };
  }

  /**
   * Slots of the current window for a Worker isolate to use ahead, without asking per call; only
   * while the circuit is closed and Acme has not said 429.
   */
  reserveAhead(
    now: number,
    rateClass: AcmeRateClass,
    priority: Priority,
    wanted: number,
    ttlMs: number,
  ): AheadSlots | null {
    if (wanted < 1 || this.breaker.snapshot(now).state !== "closed") return null;
    const slots = this.budgets[rateClass].reserveAhead(now, priority, wanted, ttlMs);
    return slots.count > 0 ? slots : null;
  }

  /** Slots handed out ahead that expired unused. */
  giveBack(now: number, rateClass: AcmeRateClass, window: number, count: number): void {
    this.budgets[rateClass].giveBack(now, window, count);
  }

  /** Learns from one attempt: its rate-limit figures, a 429's Retry-After, and Acme's health. */
  record(now: number, report: AttemptReport): void {
    this.counters.calls += 1;
    const seenAt = now - Math.max(0, report.ageMs ?? 0);
    if (report.rate) this.budgets[report.rateClass].observe(seenAt, report.rate, report.roundTripMs);
    else this.budgets[report.rateClass].observeNoFigures();
    if (report.retryAfterMs !== undefined) {
      this.counters.acme429s += 1;
      this.budgets[report.rateClass].observeRejection(now, report.retryAfterMs);
    }
    if (report.retried) this.counters.retries += 1;
    this.breaker.record(now, report.health === "success", report.probe);
  }

  recordStaleFallback(): void {
    this.counters.staleFallbacks += 1;
  }

  recordCacheWriteFailure(): void {
    this.counters.cacheWriteFailures += 1;
  }

  /** Circuit, budgets per rate class and counters, for the status route. */
  snapshot(now: number) {
    return {
      circuit: this.breaker.snapshot(now),
      budgets: Object.fromEntries(ACME_RATE_CLASSES.map((c) => [c, this.budgets[c].snapshot(now)])) as Record<
        AcmeRateClass,
        ReturnType<RateBudget["snapshot"]>
      >,
      counters: { ...this.counters },
    };
  }
}
