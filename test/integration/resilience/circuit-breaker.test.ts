import { describe, expect, it } from "vitest";
import { CircuitBreaker } from "../../../src/integration/resilience/circuit-breaker.ts";

const settings = {
  failureThreshold: 3,
  failureRatio: 0.5,
  windowMs: 10_000,
  openMs: 1000,
  maxOpenMs: 4000,
  halfOpenProbes: 1,
  probeTimeoutMs: 5000,
};

function failTimes(breaker: CircuitBreaker, times: number[]) {
  for (const t of times) {
    expect(breaker.admit(t)).toMatchObject({ allowed: true });
    breaker.record(t, false, false);
  }
}

describe("circuit breaker", () => {
  it("weighs failures against the window's successes only, after 200,000 successes over an hour", () => {
    const breaker = new CircuitBreaker(settings);
    // 55 calls a second for an hour; only the last 10 s (550) count against the failures.
    for (let t = 0; t < 3_600_000; t += 18) breaker.record(t, true, false);
    failTimes(breaker, [3_600_000, 3_600_001, 3_600_002]);
    expect(breaker.snapshot(3_600_003)).toMatchObject({ state: "closed", recentFailures: 3 });
    // Ten seconds without calls: the successes fall out of the window, and three failures open it.
    failTimes(breaker, [3_610_100, 3_610_101, 3_610_102]);
    expect(breaker.snapshot(3_610_103)).toMatchObject({ state: "open" });
  });

  it("stays closed below the failure threshold and when failures fall out of the window", () => {
    const breaker = new CircuitBreaker(settings);
    failTimes(breaker, [0, 100]);
    expect(breaker.snapshot(200).state).toBe("closed");
    failTimes(breaker, [10_500]); // the failure at 0 has left the window
    expect(breaker.snapshot(10_600).state).toBe("closed");
  });

  it("stays closed when failures are a minority of recent calls", () => {
    const breaker = new CircuitBreaker(settings);
    for (let t = 0; t < 40; t++) {
      breaker.admit(t * 100);
      breaker.record(t * 100, t % 3 !== 0, false); // one call in three fails
    }
    expect(breaker.snapshot(4000).state).toBe("closed");
    expect(breaker.snapshot(4000).recentFailures).toBeGreaterThanOrEqual(3);
  });

  it("opens after repeated failures and refuses with the time left", () => {
    const breaker = new CircuitBreaker(settings);
    failTimes(breaker, [0, 100, 200]);
    expect(breaker.admit(300)).toEqual({ allowed: false, retryAfterMs: 900 });
  });

  it("lets one probe through when half-open and closes on its success", () => {
    const breaker = new CircuitBreaker(settings);
    failTimes(breaker, [0, 100, 200]);
    expect(breaker.admit(1200)).toEqual({ allowed: true, probe: true });
    expect(breaker.admit(1201)).toMatchObject({ allowed: false });
    breaker.record(1250, true, true);
    expect(breaker.snapshot(1251).state).toBe("closed");
    expect(breaker.admit(1300)).toEqual({ allowed: true, probe: false });
  });

  it("reopens for twice as long when the probe fails, up to the cap", () => {
    const breaker = new CircuitBreaker(settings);
    failTimes(breaker, [0, 100, 200]);
    let now = 1200;
    for (const period of [2000, 4000, 4000]) {
      expect(breaker.admit(now)).toEqual({ allowed: true, probe: true });
      breaker.record(now, false, true);
      expect(breaker.admit(now + 1)).toEqual({ allowed: false, retryAfterMs: period - 1 });
      now += period;
    }
  });

  it("frees the place of a probe that never reported back", () => {
    const breaker = new CircuitBreaker(settings);
    failTimes(breaker, [0, 100, 200]);
    expect(breaker.admit(1200)).toMatchObject({ allowed: true, probe: true });
    expect(breaker.admit(3000)).toMatchObject({ allowed: false });
    expect(breaker.admit(6300)).toMatchObject({ allowed: true, probe: true });
  });
});
