// Per-connection circuit breaker. Plain class: time comes in as arguments.

export interface BreakerSettings {
  /**
   * The circuit opens when, within `windowMs`, at least this many calls failed and they are at
   * least `failureRatio` of all calls: a steady trickle of errors among many successes does not
   * open it, an outage does.
   */
  failureThreshold: number;
  failureRatio: number;
  windowMs: number;
  /** First open period; doubles on each failed probe, up to `maxOpenMs`. */
  openMs: number;
  maxOpenMs: number;
  /** Calls let through at once while half-open. */
  halfOpenProbes: number;
  /** A probe that never reports back frees its place after this long. */
  probeTimeoutMs: number;
}

export const DEFAULT_BREAKER: BreakerSettings = {
  failureThreshold: 5,
  failureRatio: 0.5,
  windowMs: 30_000,
  openMs: 5_000,
  maxOpenMs: 60_000,
  halfOpenProbes: 1,
  probeTimeoutMs: 10_000,
};

export type BreakerState = "closed" | "open" | "half_open";

export type BreakerAdmission = { allowed: true; probe: boolean } | { allowed: false; retryAfterMs: number };

/**
 * The times of events within the last `windowMs`, oldest first, counted in amortised constant
 * time: old entries are dropped from the front as time moves on (a busy connection's 30 s of
 * successes would otherwise be filtered on every call). Times come in as they happen; one that
 * comes in slightly out of order is dropped when the ones before it are.
 */
class TimeWindow {
  private times: number[] = [];
  private head = 0;

  constructor(private readonly windowMs: number) {}

  add(now: number): void {
    this.times.push(now);
    this.count(now); // drops what fell out of the window, so the array stays bounded
  }

  count(now: number): number {
    while (this.head < this.times.length && now - (this.times[this.head] as number) >= this.windowMs) {
      this.head += 1;
    }
    // Compact once the dropped part is most of the array.
    if (this.head > 64 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return this.times.length - this.head;
  }

  clear(): void {
    this.times = [];
    this.head = 0;
  }
}

export class CircuitBreaker {
  private state: BreakerState = "closed";
  private readonly failures: TimeWindow;
  private readonly successes: TimeWindow;
  private openUntil = 0;
  private reopenCount = 0;
  private probes: number[] = [];

  constructor(private readonly settings: BreakerSettings = DEFAULT_BREAKER) {
    this.failures = new TimeWindow(settings.windowMs);
    this.successes = new TimeWindow(settings.windowMs);
  }

  admit(now: number): BreakerAdmission {
    if (this.state === "open") {
      if (now < this.openUntil) return { allowed: false, retryAfterMs: this.openUntil - now };
      this.state = "half_open";
      this.probes = [];
    }
    if (this.state === "half_open") {
      this.probes = this.probes.filter((started) => now - started < this.settings.probeTimeoutMs);
      if (this.probes.length >= this.settings.halfOpenProbes) return { allowed: false, retryAfterMs: 1000 };
      this.probes.push(now);
      return { allowed: true, probe: true };
    }
    return { allowed: true, probe: false };
  }

  /** A probe place was granted but the call did not go out after all. */
  cancelProbe(): void {
    this.probes.shift();
  }

  /** An outcome that says something about Acme's health (not 4xx answers, not our own refusals). */
  record(now: number, success: boolean, probe: boolean): void {
    if (probe) this.probes.shift();
    if (success) {
      if (this.state !== "closed") {
        this.state = "closed";
        this.reopenCount = 0;
        this.failures.clear();
        this.successes.clear();
      }
      this.successes.add(now);
      return;
    }
    if (this.state === "half_open" || (probe && this.state !== "closed")) {
      this.open(now);
      return;
    }
    if (this.state === "open") return;
    this.failures.add(now);
    const failed = this.failures.count(now);
    if (
      failed >= this.settings.failureThreshold &&
      failed / (failed + this.successes.count(now)) >= this.settings.failureRatio
    ) {
      this.open(now);
    }
  }

  snapshot(now: number): { state: BreakerState; recentFailures: number; retryAfterMs: number } {
    const open = this.state === "open" && now < this.openUntil;
    return {
      state: this.state === "open" && !open ? "half_open" : this.state,
      recentFailures: this.failures.count(now),
      retryAfterMs: open ? this.openUntil - now : 0,
    };
  }

  private open(now: number): void {
    const period = Math.min(this.settings.maxOpenMs, this.settings.openMs * 2 ** this.reopenCount);
    this.state = "open";
    this.openUntil = now + period;
    this.reopenCount += 1;
    this.failures.clear();
    this.successes.clear();
    this.probes = [];
  }
}
