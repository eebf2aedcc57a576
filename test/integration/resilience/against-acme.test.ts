import { env } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { acme, tokenFor, uniqueEmail } from "../../acme/helpers.ts";
import { api, createContact, newConnection, type TestConnection, untilCircuitCloses } from "../helpers.ts";

// These tests drive the real mock Acme through its fault profile, which is global to the mock:
// they run one after another and always reset it.

const adminHeaders = () => ({ authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` });

async function setFaults(profile: Record<string, unknown>): Promise<void> {
  const res = await acme("/admin/faults", { method: "PUT", headers: adminHeaders(), body: profile });
  expect(res.status).toBe(200);
}

async function acmeTraffic(): Promise<number> {
  const res = await acme("/admin/faults/traffic", { headers: adminHeaders() });
  return (await res.json<{ requests: number }>()).requests;
}

async function status(key: string) {
  const res = await api("/api/v1/status", { key });
  expect(res.status).toBe(200);
  return res.json<{
    circuit: { state: string };
    counters: Record<string, number>;
    budgets: Record<string, { limit: number | null }>;
  }>();
}

/** Every contact of the connection's Acme account, read at Acme itself. */
async function allAtAcme(connection: TestConnection) {
  const token = await tokenFor(connection.acmeClient);
  const contacts: { id: string; acme_email: string }[] = [];
  let after = "";
  for (;;) {
    const res = await acme(`/v1/contacts?limit=100${after ? `&after=${after}` : ""}`, { token });
    const page = await res.json<{
      results: { id: string; acme_email: string }[];
      paging?: { next: { after: string } };
    }>();
    contacts.push(...page.results);
    if (!page.paging) return contacts;
    after = page.paging.next.after;
  }
}

async function inBatches<T>(items: T[], size: number, run: (item: T) => Promise<void>) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

describe.sequential("resilience against the mock Acme", () => {
  afterEach(async () => {
    await setFaults({});
  });

  it("creates each contact exactly once with 30% of writes failing at Acme, before or after committing", async () => {
    const connection = await newConnection();
    const outcomes: { email: string; status: number; id?: string; retryAfter: string | null }[] = [];
    for (const errorPhase of ["after", "before"]) {
      await setFaults({
        enabled: true,
        seed: 7,
        errorRate: 0.3,
        statusMix: { "500": 1, "503": 1 },
        errorPhase,
        methods: ["POST"],
      });
      const emails = Array.from({ length: 100 }, () => uniqueEmail("bulk"));
      await inBatches(emails, 10, async (email) => {
        const res = await api("/api/v1/contacts", {
          key: connection.apiKey,
          method: "POST",
          body: { firstName: "Bulk", lastName: "Create", email },
        });
        const body = await res.json<{ id?: string; code?: string }>();
        if (res.status === 503) expect(body.code).toBe("acme_unavailable");
        outcomes.push({
          email,
          status: res.status,
          ...(body.id ? { id: body.id } : {}),
          retryAfter: res.headers.get("retry-after"),
        });
      });
    }
    await setFaults({});
    expect(new Set(outcomes.map((o) => o.status))).toSatisfy((set: Set<number>) =>
      [...set].every((s) => s === 201 || s === 503),
    );
    expect(outcomes.filter((o) => o.status === 503).every((o) => o.retryAfter !== null)).toBe(true);

    const atAcme = await allAtAcme(connection);
    const byEmail = new Map<string, string[]>();
    for (const contact of atAcme)
      byEmail.set(contact.acme_email, [...(byEmail.get(contact.acme_email) ?? []), contact.id]);
    expect([...byEmail.values()].every((ids) => ids.length === 1)).toBe(true);
    for (const created of outcomes.filter((o) => o.status === 201)) {
      expect(byEmail.get(created.email)).toEqual([created.id]);
    }
    expect(outcomes.filter((o) => o.status === 201).length).toBeGreaterThan(150);
  }, 120_000);

  it("breaks the circuit when Acme is down, serves cached contacts as STALE, and recovers", async () => {
    const connection = await newConnection();
    const key = connection.apiKey;
    const created = await (
      await api("/api/v1/contacts", {
        key,
        method: "POST",
        body: { firstName: "Cached", lastName: "Copy", email: uniqueEmail() },
      })
    ).json<{ id: string }>();
    expect((await api(`/api/v1/contacts/${created.id}`, { key })).headers.get("x-cache")).toBe("MISS");
    // Age the cached copy past its TTL, as ten minutes of waiting would.
    const cacheKey = `contact:${connection.connectionId}:${created.id}`;
    const entry = await env.CACHE.get<{ contact: unknown; storedAt: number }>(cacheKey, "json");
    await env.CACHE.put(cacheKey, JSON.stringify({ ...entry, storedAt: Date.now() - 600_000 }));

    await setFaults({ enabled: true, errorRate: 1, statusMix: { "503": 1 } });
    const stale = await api(`/api/v1/contacts/${created.id}`, { key });
    expect(stale.status).toBe(200);
    expect(stale.headers.get("x-cache")).toBe("STALE");
    expect(Number(stale.headers.get("age"))).toBeGreaterThanOrEqual(600);
    expect(await stale.json()).toMatchObject({ id: created.id, firstName: "Cached" });
    for (let i = 0; i < 5 && (await status(key)).circuit.state !== "open"; i++) {
      await api("/api/v1/contacts?limit=1", { key });
    }
    expect((await status(key)).circuit.state).toBe("open");

    const before = await acmeTraffic();
    for (let i = 0; i < 10; i++) {
      const read = await api(`/api/v1/contacts/${created.id}`, { key });
      expect(read.headers.get("x-cache")).toBe("STALE");
    }
    const unknown = await api("/api/v1/contacts/ct_00000000000000000000000000", { key });
    expect(unknown.status).toBe(503);
    expect(Number(unknown.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    // Only half-open probes may reach Acme while the circuit is open (at most two in this time).
    expect((await acmeTraffic()) - before).toBeLessThanOrEqual(2);
    expect((await status(key)).counters.staleFallbacks).toBeGreaterThanOrEqual(11);

    await setFaults({});
    await untilCircuitCloses(key);
    const fresh = await api(`/api/v1/contacts/${created.id}`, { key });
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get("x-cache")).toBe("MISS");
    expect((await status(key)).circuit.state).toBe("closed");
  }, 60_000);

  it("throttles below Acme's read limit: callers get an answer or an immediate 429, and Acme never says 429", async () => {
    const connection = await newConnection({ rateLimits: { read: { limit: 4, windowSeconds: 2 } } });
    const key = connection.apiKey;
    expect((await api("/api/v1/contacts?limit=1", { key })).status).toBe(200); // learns the limit
    expect((await status(key)).budgets.read?.limit).toBe(4);

    const results = await Promise.all(
      Array.from({ length: 16 }, () => api("/api/v1/contacts?limit=1", { key })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(3);
    for (const refused of results.filter((r) => r.status === 429)) {
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect((await refused.json<{ code: string }>()).code).toBe("acme_rate_limited");
    }
    const { counters } = await status(key);
    expect(counters.acme429s).toBe(0);
    expect(counters.throttledRefusals).toBeGreaterThan(0);
    expect(counters.throttledWaits).toBeGreaterThan(0);
  }, 30_000);

  it("a new connection's first burst above the write quota, with Acme slow to answer, draws no 429 at Acme", async () => {
    const connection = await newConnection({ rateLimits: { write: { limit: 5, windowSeconds: 30 } } });
    const key = connection.apiKey;
    await setFaults({ enabled: true, latencyMs: { min: 400, max: 400 }, methods: ["POST"] });
    // Nothing is known of the write quota yet: one create goes to learn it, the rest wait for its answer.
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        api("/api/v1/contacts", {
          key,
          method: "POST",
          body: { firstName: "First", lastName: "Burst", email: uniqueEmail("burst") },
        }),
      ),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(7);
    for (const refused of results.filter((r) => r.status === 429)) {
      expect((await refused.json<{ code: string }>()).code).toBe("acme_rate_limited");
    }
    const { counters } = await status(key);
    expect(counters.acme429s).toBe(0);
    expect(await allAtAcme(connection)).toHaveLength(5);
  }, 30_000);

  it("busy isolates with slots ahead still stay inside Acme's quota: no 429 at Acme, no more answers than it allows", async () => {
    const connection = await newConnection({ rateLimits: { read: { limit: 60, windowSeconds: 30 } } });
    const key = connection.apiKey;
    const id = (await createContact(key)).id;
    const read = () => api(`/api/v1/contacts/${id}`, { key, headers: { "cache-control": "no-cache" } });
    expect((await read()).status).toBe(200);
    const answers: string[] = [];
    for (let wave = 0; wave < 6; wave++) {
      const results = await Promise.all(Array.from({ length: 25 }, read));
      for (const res of results) {
        expect(res.status).toBe(200);
        answers.push(res.headers.get("x-cache") ?? "");
      }
    }
    // MISS: Acme answered; STALE: throttled here, the cached copy served instead.
    expect(answers.every((a) => a === "MISS" || a === "STALE")).toBe(true);
    const fromAcme = answers.filter((a) => a === "MISS").length;
    // Exactly what is left of the window after the connection's backfill (one page) and the
    // first read: 60 - 2. The window cannot end
    // during the run (30 s), nothing is scheduled into the next one (farther away than a
    // request's deadline), and no slot handed ahead is lost, whether used or given back.
    expect(fromAcme).toBe(58);
    const { counters } = await status(key);
    expect(counters.acme429s).toBe(0);
  }, 30_000);
});
