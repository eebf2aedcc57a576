import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { MinutePoint } from "../../../src/integration/session/minute-counters.ts";
import type { AttemptReport } from "../../../src/integration/session/protocol.ts";
import { addSample, type RequestTally } from "../../../src/integration/session/request-tally.ts";
import { newConnection } from "../helpers.ts";
import { consoleFetch, signIn } from "./helpers.ts";

type Point = MinutePoint;

/** The figures the page hands its charts script (the section's data-points attribute). */
function pointsIn(html: string): Point[] {
  const match = /id="minute-figures"[^>]*data-points="([^"]*)"/.exec(html);
  if (!match?.[1]) throw new Error("no figures on the page");
  return JSON.parse(match[1].replace(/&quot;/g, '"').replace(/&amp;/g, "&")) as Point[];
}

function total(points: Point[]) {
  const sum = { requests: 0, acmeCalls: 0, acme429s: 0, acmeFailures: 0 };
  for (const p of points) {
    sum.requests += p.requests;
    sum.acmeCalls += p.acmeCalls;
    sum.acme429s += p.acme429s;
    sum.acmeFailures += p.acmeFailures;
  }
  return sum;
}

describe("console: a connection's last hour", () => {
  it("charts the session's per-minute figures, with the same figures as a table and no secret", async () => {
    const connection = await newConnection();
    const session = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(connection.connectionId));
    const now = Date.now();
    const tallies = new Map<number, RequestTally>();
    for (let i = 0; i < 120; i++)
      addSample(tallies, { at: now, durationMs: i < 100 ? 8 : 400, cache: "HIT" });
    const reports: AttemptReport[] = [
      { rateClass: "read", probe: false, health: "success", receivedAt: now },
      { rateClass: "read", probe: false, health: "success", receivedAt: now, retryAfterMs: 1000 },
      { rateClass: "read", probe: false, health: "failure", receivedAt: now },
    ];
    // What the connection's set-up already counted (its backfill's calls, the requests it made).
    const before = total(await session.minuteSeries(60));
    await session.record(reports, [...tallies.values()]);

    const signedIn = await signIn();
    const res = await consoleFetch(`/console/connections/${connection.connectionId}/charts`, {
      cookie: signedIn.cookie,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const html = await res.text();
    const points = pointsIn(html);
    expect(points).toHaveLength(60);
    expect(total(points)).toEqual({
      requests: before.requests + 120,
      acmeCalls: before.acmeCalls + 3,
      acme429s: before.acme429s + 1,
      acmeFailures: before.acmeFailures + 1,
    });
    const current = points.find((p) => p.time === Math.floor(now / 60_000) * 60);
    expect(current?.cacheHitRatio).toBe(1);
    expect(current?.p50Ms).toBeLessThanOrEqual(10);
    expect(current?.p95Ms).toBeGreaterThan(300);
    // Four charts for the script, the totals and a 60-row table for readers without it.
    expect([...html.matchAll(/class="chart" id="chart-/g)]).toHaveLength(4);
    expect(html).toContain(`<strong data-total="requests">${before.requests + 120}</strong>`);
    expect([...html.matchAll(/<tr data-minute="/g)]).toHaveLength(60);
    expect(html).toContain('<script src="/assets/vendor/uplot.min.js" defer=""></script>');
    expect(html).toContain('aria-current="page">Last hour</a>');
    for (const secret of [
      connection.apiKey,
      connection.acmeClient.clientSecret,
      env.ADMIN_TOKEN,
      env.ENCRYPTION_KEYS,
      env.ID_TAG_KEY,
    ]) {
      expect(html).not.toContain(secret);
    }

    const refresh = await consoleFetch(`/console/connections/${connection.connectionId}/charts/figures`, {
      cookie: signedIn.cookie,
    });
    expect(refresh.status).toBe(200);
    const fragment = await refresh.text();
    expect(fragment.startsWith('<section id="minute-figures"')).toBe(true);
    expect(total(pointsIn(fragment)).requests).toBe(before.requests + 120);
  });

  it("answers 404 for a connection that does not exist, on the page and its refresh", async () => {
    const signedIn = await signIn();
    for (const path of [
      "/console/connections/conn_missing/charts",
      "/console/connections/conn_missing/charts/figures",
    ]) {
      const res = await consoleFetch(path, { cookie: signedIn.cookie });
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    }
  });
});
