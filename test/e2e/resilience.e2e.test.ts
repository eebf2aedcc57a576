import { afterEach, describe, expect, it } from "vitest";
import { base, eventually, newConnection, setFaults, sleep } from "./helpers.ts";

async function status(apiKey: string) {
  const res = await fetch(`${base}/api/v1/status`, { headers: { authorization: `Bearer ${apiKey}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { circuit: { state: string }; counters: Record<string, number> };
}

describe("resilience over HTTP (wrangler dev, fault profile)", () => {
  afterEach(async () => {
    await setFaults({});
  });

  it("absorbs a 429 burst: every read succeeds after waiting out Retry-After", async () => {
    const { apiKey } = await newConnection();
    const headers = { authorization: `Bearer ${apiKey}` };
    expect((await fetch(`${base}/api/contacts`, { headers })).status).toBe(200);
    await setFaults({
      enabled: true,
      rateLimitBurst: { every: 4, length: 2, retryAfterSeconds: 1 },
      methods: ["GET"],
    });
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`${base}/api/contacts`, { headers });
      expect(res.status).toBe(200);
    }
    const { counters } = await status(apiKey);
    expect(counters.acme429s).toBeGreaterThan(0);
    expect(counters.retries).toBeGreaterThan(0);
  });

  it("absorbs an outage: cached reads turn STALE, the circuit opens, and it closes when Acme is back", async () => {
    const { apiKey } = await newConnection();
    const headers = { authorization: `Bearer ${apiKey}`, "content-type": "application/json" };
    const created = await fetch(`${base}/api/contacts`, {
      method: "POST",
      headers,
      body: JSON.stringify({ firstName: "Dorothy", lastName: "Vaughan", email: "dorothy@example.com" }),
    });
    const { id } = (await created.json()) as { id: string };
    expect((await fetch(`${base}/api/contacts/${id}`, { headers })).headers.get("x-cache")).toBe("MISS");
    await sleep(1100); // the e2e server caches for 1 s

    await setFaults({ enabled: true, errorRate: 1, statusMix: { "503": 1 } });
    const stale = await fetch(`${base}/api/contacts/${id}`, { headers });
    expect(stale.status).toBe(200);
    expect(stale.headers.get("x-cache")).toBe("STALE");
    expect(Number(stale.headers.get("age"))).toBeGreaterThanOrEqual(1);
    await eventually(async () => {
      await fetch(`${base}/api/contacts?limit=1`, { headers });
      return (await status(apiKey)).circuit.state === "open" ? true : undefined;
    }, 10_000);
    const failFast = await fetch(`${base}/api/contacts?limit=1`, { headers });
    expect(failFast.status).toBe(503);
    expect(failFast.headers.get("retry-after")).toMatch(/^\d+$/);

    await setFaults({});
    const recovered = await eventually(async () => {
      const res = await fetch(`${base}/api/contacts/${id}`, { headers });
      return res.status === 200 && res.headers.get("x-cache") !== "STALE" ? res : undefined;
    }, 10_000);
    expect(recovered.status).toBe(200);
    expect((await status(apiKey)).circuit.state).toBe("closed");
  });
});
