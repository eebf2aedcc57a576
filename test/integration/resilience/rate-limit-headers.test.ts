import { describe, expect, it } from "vitest";
import { parseRateLimitHeaders } from "../../../src/integration/resilience/rate-limit-headers.ts";

function headers(policy: string, current: string): Headers {
  return new Headers({ "ratelimit-policy": policy, ratelimit: current });
}

describe("Acme's rate-limit headers as the budget reads them", () => {
  it("reads the quota, window, remaining calls and reset of the first policy", () => {
    expect(parseRateLimitHeaders(headers('"read";q=100;w=10', '"read";r=42;t=7'))).toEqual({
      limit: 100,
      windowSeconds: 10,
      remaining: 42,
      resetSeconds: 7,
    });
  });

  it.each([
    ["a missing header", new Headers({ ratelimit: '"read";r=1;t=1' })],
    ["figures that are not whole numbers", headers('"read";q=1.5;w=10', '"read";r=1;t=1')],
    ["more remaining than the quota", headers('"read";q=10;w=10', '"read";r=11;t=1')],
    ["a reset beyond the window", headers('"read";q=10;w=10', '"read";r=1;t=99999')],
    ["a window over a day", headers('"read";q=10;w=999999', '"read";r=1;t=1')],
    ["an absurd quota", headers('"read";q=99999999999;w=10', '"read";r=1;t=1')],
    ["a zero window", headers('"read";q=10;w=0', '"read";r=1;t=0')],
  ])("ignores %s (the budget learns from the next answer instead)", (_, value) => {
    expect(parseRateLimitHeaders(value)).toBeNull();
  });
});
