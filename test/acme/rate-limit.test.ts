import { env } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import type { RatePolicy } from "../../src/acme/config.ts";
import {
  consumeWindow,
  type RateDecision,
  rateLimitHeaders,
  type WindowState,
} from "../../src/acme/rate-limit/fixed-window.ts";
import { acme, createContact, expectAcmeError, signedIn, uniqueEmail } from "./helpers.ts";

const T0 = Date.parse("2025-01-01T00:00:00.000Z");

/** Runs requests through the pure window one after another, as the Durable Object does. */
function replay(policy: RatePolicy, times: number[], cost = 1) {
  let state: WindowState | null = null;
  return times.map((nowMs) => {
    const before: WindowState | null = state;
    const step = consumeWindow(state, policy, nowMs, cost);
    if (step.decision.allowed) state = step.state;
    return { nowMs, before, after: state, ...step };
  });
}

describe("fixed window (pure)", () => {
  const policy = { limit: 3, windowSeconds: 10 };

  it("grants exactly `limit` requests in a window, counting remaining down, and refuses the next", () => {
    const steps = replay(policy, [T0, T0 + 1, T0 + 2, T0 + 3]);
    expect(steps.map((s) => s.decision.allowed)).toEqual([true, true, true, false]);
    expect(steps.map((s) => s.decision.remaining)).toEqual([2, 1, 0, 0]);
    expect(steps.every((s) => s.decision.limit === 3 && s.decision.windowSeconds === 10)).toBe(true);
  });

  it("a refused request consumes nothing and does not extend the window", () => {
    const steps = replay(policy, [T0, T0, T0, T0 + 5_000, T0 + 9_999, T0 + 10_000]);
    expect(steps.map((s) => s.decision.allowed)).toEqual([true, true, true, false, false, true]);
    expect(steps[3]?.state).toEqual(steps[3]?.before);
    expect(steps[4]?.state).toEqual({ windowStart: T0, count: 3 });
    expect(steps[5]?.state).toEqual({ windowStart: T0 + 10_000, count: 1 });
  });

  it("opens the next window with the first request after windowSeconds have passed", () => {
    const steps = replay(policy, [T0, T0 + 1, T0 + 2, T0 + 25_000, T0 + 25_001]);
    expect(steps.map((s) => s.decision.allowed)).toEqual([true, true, true, true, true]);
    expect(steps[3]?.state).toEqual({ windowStart: T0 + 25_000, count: 1 });
    expect(steps[3]?.decision.remaining).toBe(2);
  });

  it("keeps a clock that steps back inside the current window instead of opening a new one", () => {
    const steps = replay({ limit: 1, windowSeconds: 10 }, [T0 + 5_000, T0, T0 + 14_999, T0 + 15_000]);
    expect(steps.map((s) => s.decision.allowed)).toEqual([true, false, false, true]);
    expect(steps[1]?.decision.resetSeconds).toBe(10);
    expect(steps[3]?.state).toEqual({ windowStart: T0 + 15_000, count: 1 });
  });

  it("reports resetSeconds as the time left in the window, rounded up, never below 1", () => {
    const reset = (elapsedMs: number) =>
      consumeWindow({ windowStart: T0, count: 1 }, policy, T0 + elapsedMs).decision.resetSeconds;
    expect(reset(0)).toBe(10);
    expect(reset(1)).toBe(10);
    expect(reset(8_500)).toBe(2);
    expect(reset(9_000)).toBe(1);
    expect(reset(9_999)).toBe(1);
  });

  it("refuses a request whose cost does not fit whole, and takes nothing for it", () => {
    const first = consumeWindow(null, policy, T0, 2);
    expect(first.decision).toMatchObject({ allowed: true, remaining: 1 });
    const tooBig = consumeWindow(first.state, policy, T0 + 1, 2);
    expect(tooBig.decision).toMatchObject({ allowed: false, remaining: 1 });
    expect(consumeWindow(first.state, policy, T0 + 2, 1).decision).toMatchObject({
      allowed: true,
      remaining: 0,
    });
    expect(consumeWindow(null, policy, T0, 4).decision.allowed).toBe(false);
  });

  it("formats the IETF RateLimit-Policy and RateLimit headers", () => {
    const decision: RateDecision = {
      allowed: true,
      limit: 5,
      windowSeconds: 60,
      remaining: 3,
      resetSeconds: 42,
      windowStartMs: 0,
    };
    expect(rateLimitHeaders("read", decision)).toEqual({
      "RateLimit-Policy": '"read";q=5;w=60',
      RateLimit: '"read";r=3;t=42',
    });
  });

  const arbitraryPolicy = fc.record({
    limit: fc.integer({ min: 1, max: 10 }),
    windowSeconds: fc.integer({ min: 1, max: 30 }),
  });
  // Request times over two minutes, in any order: clocks may step backwards.
  const arbitraryTimes = fc.array(
    fc.integer({ min: 0, max: 120_000 }).map((ms) => T0 + ms),
    {
      minLength: 1,
      maxLength: 200,
    },
  );
  const arbitraryCost = fc.integer({ min: 1, max: 3 });

  it("property: no window ever grants more than limit, and windows never overlap", () => {
    fc.assert(
      fc.property(arbitraryPolicy, arbitraryTimes, arbitraryCost, (policy, times, cost) => {
        const granted = new Map<number, number>();
        let previousStart: number | null = null;
        for (const step of replay(policy, times, cost)) {
          if (!step.decision.allowed) continue;
          const start = step.state.windowStart;
          granted.set(start, (granted.get(start) ?? 0) + cost);
          if (previousStart !== null && start !== previousStart) {
            expect(start).toBeGreaterThanOrEqual(previousStart + policy.windowSeconds * 1000);
          }
          previousStart = start;
        }
        for (const total of granted.values()) expect(total).toBeLessThanOrEqual(policy.limit);
      }),
    );
  });

  it("property: a request is refused only when its cost does not fit, and a refusal changes nothing", () => {
    fc.assert(
      fc.property(arbitraryPolicy, arbitraryTimes, arbitraryCost, (policy, times, cost) => {
        for (const step of replay(policy, times, cost)) {
          const { decision } = step;
          expect(decision.remaining).toBe(policy.limit - step.state.count);
          expect(decision.resetSeconds).toBeGreaterThanOrEqual(1);
          expect(decision.resetSeconds).toBeLessThanOrEqual(policy.windowSeconds);
          if (decision.allowed) {
            expect(step.after).toEqual(step.state);
          } else {
            expect(decision.remaining).toBeLessThan(cost);
            expect(step.after).toEqual(step.before);
          }
        }
      }),
    );
  });
});

describe("RateLimiter Durable Object (RPC, injected time)", () => {
  const limiter = () => env.ACME_LIMITER.get(env.ACME_LIMITER.idFromName(`rpc-test-${crypto.randomUUID()}`));
  const policy = { limit: 3, windowSeconds: 60 };

  it("grants exactly the limit in a window and refuses the next", async () => {
    const stub = limiter();
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await stub.consume("read", policy, T0 + i * 1000));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
    expect(decisions[3]?.resetSeconds).toBe(57);
  });

  it("restarts counting once the window has passed, and not a millisecond before", async () => {
    const stub = limiter();
    for (let i = 0; i < 3; i++) await stub.consume("read", policy, T0);
    expect((await stub.consume("read", policy, T0 + 59_999)).allowed).toBe(false);
    const next = await stub.consume("read", policy, T0 + 60_000);
    expect(next).toMatchObject({ allowed: true, remaining: 2, resetSeconds: 60 });
  });

  it("keeps a budget per class and per client", async () => {
    const stub = limiter();
    for (let i = 0; i < 3; i++) await stub.consume("read", policy, T0);
    expect((await stub.consume("read", policy, T0)).allowed).toBe(false);
    expect((await stub.consume("write", policy, T0)).allowed).toBe(true);
    expect((await limiter().consume("read", policy, T0)).allowed).toBe(true);
  });

  it("is exact under concurrent calls: 50 at once against a limit of 20 grant exactly 20", async () => {
    const stub = limiter();
    const decisions = await Promise.all(
      Array.from({ length: 50 }, () => stub.consume("write", { limit: 20, windowSeconds: 60 }, T0)),
    );
    expect(decisions.filter((d) => d.allowed)).toHaveLength(20);
  });

  it("peek reports the decision without taking anything", async () => {
    const stub = limiter();
    for (let i = 0; i < 5; i++) expect((await stub.peek("read", policy, T0)).allowed).toBe(true);
    for (let i = 0; i < 3; i++) expect((await stub.consume("read", policy, T0)).allowed).toBe(true);
    expect((await stub.peek("read", policy, T0)).allowed).toBe(false);
  });

  it("applies per-client overrides instead of the fallback, and null restores the fallback", async () => {
    const stub = limiter();
    const fallback = { limit: 100, windowSeconds: 10 };
    await stub.setOverrides({ read: { limit: 1, windowSeconds: 5 } });
    expect(await stub.consume("read", fallback, T0)).toMatchObject({
      allowed: true,
      limit: 1,
      windowSeconds: 5,
    });
    expect((await stub.consume("read", fallback, T0)).allowed).toBe(false);
    expect((await stub.consume("read", fallback, T0 + 5_000)).allowed).toBe(true);
    // Other classes keep the fallback.
    expect(await stub.consume("write", fallback, T0)).toMatchObject({ limit: 100, windowSeconds: 10 });

    await stub.setOverrides({ read: null });
    expect(await stub.consume("read", fallback, T0 + 5_000)).toMatchObject({
      allowed: true,
      limit: 100,
      remaining: 99,
    });
  });

  it("restarts a class's window when its override changes", async () => {
    const stub = limiter();
    for (let i = 0; i < 3; i++) await stub.consume("read", policy, T0);
    expect((await stub.consume("read", policy, T0)).allowed).toBe(false);
    await stub.setOverrides({ read: { limit: 2, windowSeconds: 60 } });
    expect(await stub.consume("read", policy, T0 + 1)).toMatchObject({ allowed: true, remaining: 1 });
  });
});

describe("rate limits over HTTP", () => {
  const parseRateLimit = (header: string | null) => {
    const match = /^"(\w+)";r=(\d+);t=(\d+)$/.exec(header ?? "");
    if (!match) throw new Error(`unexpected RateLimit header: ${header}`);
    return { name: match[1], remaining: Number(match[2]), reset: Number(match[3]) };
  };

  it("grants a client exactly its read limit with RateLimit headers, then 429 rate_limited with Retry-After", async () => {
    const { token } = await signedIn({ rateLimits: { read: { limit: 5, windowSeconds: 3600 } } });
    const remaining: number[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await acme("/v1/contacts", { token });
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit-policy")).toBe('"read";q=5;w=3600');
      const rateLimit = parseRateLimit(res.headers.get("ratelimit"));
      expect(rateLimit.name).toBe("read");
      expect(rateLimit.reset).toBeGreaterThan(0);
      expect(rateLimit.reset).toBeLessThanOrEqual(3600);
      remaining.push(rateLimit.remaining);
    }
    expect(remaining).toEqual([4, 3, 2, 1, 0]);

    const refused = await acme("/v1/contacts", { token });
    await expectAcmeError(refused, 429, "rate_limited");
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(refused.headers.get("ratelimit-policy")).toBe('"read";q=5;w=3600');
    expect(parseRateLimit(refused.headers.get("ratelimit")).remaining).toBe(0);

    // Refusals take nothing but stay refused.
    await expectAcmeError(await acme("/v1/contacts", { token }), 429, "rate_limited");
  });

  it("keeps writes and deletes on their own budgets when reads are exhausted", async () => {
    const { token } = await signedIn({ rateLimits: { read: { limit: 1, windowSeconds: 3600 } } });
    expect((await acme("/v1/contacts", { token })).status).toBe(200);
    await expectAcmeError(await acme("/v1/contacts", { token }), 429, "rate_limited");

    const defaults = JSON.parse(env.ACME_RATE_LIMITS) as Record<string, RatePolicy>;
    const write = await acme("/v1/contacts", { token, method: "POST", body: { acme_email: uniqueEmail() } });
    expect(write.status).toBe(201);
    expect(write.headers.get("ratelimit-policy")).toBe(
      `"write";q=${defaults.write?.limit};w=${defaults.write?.windowSeconds}`,
    );
    const { id } = await write.json<{ id: string }>();
    const removal = await acme(`/v1/contacts/${id}`, { token, method: "DELETE" });
    expect(removal.status).toBe(204);
    expect(removal.headers.get("ratelimit-policy")).toMatch(/^"delete";/);
  });

  it("limits deletes separately from other writes", async () => {
    const { token } = await signedIn({ rateLimits: { delete: { limit: 1, windowSeconds: 3600 } } });
    const a = await createContact(token, { acme_email: uniqueEmail() });
    const b = await createContact(token, { acme_email: uniqueEmail() });
    expect((await acme(`/v1/contacts/${a.id}`, { token, method: "DELETE" })).status).toBe(204);
    await expectAcmeError(
      await acme(`/v1/contacts/${b.id}`, { token, method: "DELETE" }),
      429,
      "rate_limited",
    );
    expect((await acme(`/v1/contacts/${b.id}`, { token })).status).toBe(200);
    expect(
      (await acme(`/v1/contacts/${b.id}`, { token, method: "PATCH", body: { acme_title: "x" } })).status,
    ).toBe(200);
  });

  it("does not let one client's exhausted budget touch another client", async () => {
    const limited = await signedIn({ rateLimits: { read: { limit: 1, windowSeconds: 3600 } } });
    const other = await signedIn();
    await acme("/v1/contacts", { token: limited.token });
    await expectAcmeError(await acme("/v1/contacts", { token: limited.token }), 429, "rate_limited");
    const res = await acme("/v1/contacts", { token: other.token });
    expect(res.status).toBe(200);
    expect(parseRateLimit(res.headers.get("ratelimit")).remaining).toBeGreaterThan(0);
  });

  it("logs the window each call counted in, so calls can be grouped into Acme's own windows", async () => {
    const { token } = await signedIn({ rateLimits: { read: { limit: 2, windowSeconds: 3600 } } });
    const logSpy = vi.spyOn(console, "log");
    try {
      for (let i = 0; i < 3; i++) await acme("/v1/contacts", { token });
      await acme("/v1/contacts", {}); // no token: refused before the limiter, so no window
      const lines = logSpy.mock.calls
        .map(([line]) => JSON.parse(String(line)) as Record<string, unknown>)
        .filter((l) => l.message === "acme request" && l.path === "/acme/v1/contacts");
      expect(lines.map((l) => [l.status, l.rateClass, l.rateRemaining])).toEqual([
        [200, "read", 1],
        [200, "read", 0],
        [429, "read", 0],
        [401, undefined, undefined],
      ]);
      const windows = new Set(lines.slice(0, 3).map((l) => l.rateWindow));
      expect(windows.size).toBe(1);
      expect(Date.parse(String([...windows][0]))).toBeLessThanOrEqual(Date.now());
    } finally {
      logSpy.mockRestore();
    }
  });

  it("carries the headers on error responses too", async () => {
    const { token } = await signedIn();
    const res = await acme("/v1/contacts/ct_00000000000000000000000000", { token });
    await expectAcmeError(res, 404, "not_found");
    expect(res.headers.get("ratelimit-policy")).toMatch(/^"read";q=\d+;w=\d+$/);
    expect(parseRateLimit(res.headers.get("ratelimit")).name).toBe("read");
  });

  it("takes per-client overrides from the admin API, and null restores the default", async () => {
    const { client, token } = await signedIn();
    const admin = { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` };
    const path = `/admin/clients/${client.clientId}/rate-limits`;
    const set = await acme(path, {
      method: "PUT",
      headers: admin,
      body: { read: { limit: 2, windowSeconds: 600 } },
    });
    expect(set.status).toBe(204);
    expect((await acme("/v1/contacts", { token })).headers.get("ratelimit-policy")).toBe('"read";q=2;w=600');
    await acme("/v1/contacts", { token });
    await expectAcmeError(await acme("/v1/contacts", { token }), 429, "rate_limited");

    expect((await acme(path, { method: "PUT", headers: admin, body: { read: null } })).status).toBe(204);
    const restored = await acme("/v1/contacts", { token });
    expect(restored.status).toBe(200);
    const defaults = JSON.parse(env.ACME_RATE_LIMITS) as Record<string, RatePolicy>;
    expect(restored.headers.get("ratelimit-policy")).toBe(
      `"read";q=${defaults.read?.limit};w=${defaults.read?.windowSeconds}`,
    );
  });

  it.each([
    ["a zero limit", { read: { limit: 0, windowSeconds: 60 } }, "read.limit"],
    ["a fractional window", { read: { limit: 5, windowSeconds: 1.5 } }, "read.windowSeconds"],
    ["an unknown class", { reads: { limit: 5, windowSeconds: 60 } }, "reads"],
  ])("refuses an override with %s (400 naming it) and keeps the old limits", async (_label, body, field) => {
    const { client, token } = await signedIn({ rateLimits: { read: { limit: 3, windowSeconds: 600 } } });
    const res = await acme(`/admin/clients/${client.clientId}/rate-limits`, {
      method: "PUT",
      headers: { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` },
      body,
    });
    const error = await expectAcmeError(res, 400, "validation_failed");
    expect(error.error.details?.map((d) => d.field)).toEqual([field]);
    expect((await acme("/v1/contacts", { token })).headers.get("ratelimit-policy")).toBe('"read";q=3;w=600');
  });
});
