import { describe, expect, it } from "vitest";
import type { Verdict } from "../../../src/integration/acme-client/acme-client.ts";
import { ApiError } from "../../../src/integration/errors.ts";
import { problemOf } from "../helpers.ts";
import { client, fakeClock, json, memorySession, scriptedAcme } from "./scripted-acme.ts";

describe("AcmeClient retries (virtual time)", () => {
  it("retries 5xx on a read with growing, jittered backoff and returns the answer", async () => {
    const clock = fakeClock();
    const session = memorySession(clock);
    const { transport, seen } = scriptedAcme(clock, session, [json(503), json(502), json(200, { ok: true })]);
    const { acme, stats } = client(clock, session, transport);
    const response = await acme.send({ method: "GET", path: "/v1/contacts" });
    expect(response.status).toBe(200);
    expect(seen).toHaveLength(3);
    expect(stats.acmeRetries).toBe(2);
    expect(clock.slept).toEqual([50, 100]); // random 0.5 of the 100 ms and 200 ms ceilings
  });

  it("answers at once with 429 and Retry-After when Acme's Retry-After outlasts the deadline", async () => {
    const clock = fakeClock();
    const session = memorySession(clock);
    const { transport, seen } = scriptedAcme(clock, session, [json(429, {}, { "retry-after": "7" })]);
    const { acme } = client(clock, session, transport);
    const started = clock.now();
    const problem = await problemOf(acme.send({ method: "GET", path: "/v1/contacts" }));
    expect(problem.code).toBe("acme_rate_limited");
    expect(problem.options.headers?.["Retry-After"]).toBe("7");
    expect(seen).toHaveLength(1);
    expect(clock.now() - started).toBe(0);
  });

  it("honours a Retry-After that fits inside the deadline", async () => {
    const clock = fakeClock();
    const session = memorySession(clock);
    const { transport, seen } = scriptedAcme(clock, session, [
      json(429, {}, { "retry-after": "2" }),
      json(200),
    ]);
    const { acme } = client(clock, session, transport);
    expect((await acme.send({ method: "GET", path: "/v1/contacts" })).status).toBe(200);
    expect((seen[1]?.at ?? 0) - (seen[0]?.at ?? 0)).toBeGreaterThanOrEqual(2000);
  });

  it("never waits past the deadline, whatever Acme answers", async () => {
    for (const script of [[json(503)], [json(429, {}, { "retry-after": "1" })], [json(500), json(429)]]) {
      const clock = fakeClock();
      const session = memorySession(clock);
      const { transport } = scriptedAcme(clock, session, script);
      const { acme } = client(clock, session, transport);
      const started = clock.now();
      await expect(acme.send({ method: "GET", path: "/v1/contacts" })).rejects.toBeInstanceOf(ApiError);
      expect(clock.now() - started).toBeLessThanOrEqual(3000);
    }
  });

  it("does not retry a write whose effect is unknown unless it can verify", async () => {
    const clock = fakeClock();
    const session = memorySession(clock);
    const { transport, seen } = scriptedAcme(clock, session, [json(500), json(201)]);
    const { acme } = client(clock, session, transport);
    const problem = await problemOf(acme.send({ method: "POST", path: "/v1/contacts", body: {} }));
    expect(problem.code).toBe("acme_unavailable");
    expect(seen).toHaveLength(1);
  });

  it("retries a write after a 429: Acme refused it before doing anything", async () => {
    const clock = fakeClock();
    const session = memorySession(clock);
    const { transport, seen } = scriptedAcme(clock, session, [
      json(429, {}, { "retry-after": "1" }),
      json(201),
    ]);
    const { acme } = client(clock, session, transport);
    expect((await acme.send({ method: "POST", path: "/v1/contacts", body: {} })).status).toBe(201);
    expect(seen.map((s) => s.method)).toEqual(["POST", "POST"]);
  });

  it("asks verify after an ambiguous write failure and returns what it found, without writing again", async () => {
    const clock = fakeClock();
    const session = memorySession(clock);
    const { transport, seen } = scriptedAcme(clock, session, [json(500)]);
    const { acme } = client(clock, session, transport);
    const found = { status: 201, headers: new Headers(), body: { id: "ct_1" } };
    const verdicts: Verdict[] = [{ applied: found }];
    const response = await acme.send(
      { method: "POST", path: "/v1/contacts", body: {} },
      { verify: async () => verdicts.shift() ?? { retry: { method: "POST", path: "/v1/contacts" } } },
    );
    expect(response).toBe(found);
    expect(seen.filter((s) => s.method === "POST")).toHaveLength(1);
  });

  it("retries with the request verify returns (e.g. with If-Match)", async () => {
    const clock = fakeClock();
    const session = memorySession(clock);
    const { transport, seen } = scriptedAcme(clock, session, [json(503), json(200)]);
    const { acme } = client(clock, session, transport);
    await acme.send(
      { method: "PATCH", path: "/v1/contacts/ct_1", body: {} },
      {
        verify: async () => ({
          retry: { method: "PATCH", path: "/v1/contacts/ct_1", body: {}, headers: { "if-match": '"4"' } },
        }),
      },
    );
    expect(seen[1]?.headers.get("if-match")).toBe('"4"');
  });

  it("refreshes the token once on a 401 and retries once; a second 401 is the answer", async () => {
    const clock = fakeClock();
    const session = memorySession(clock);
    const { transport, seen } = scriptedAcme(clock, session, [json(401), json(200)]);
    const { acme } = client(clock, session, transport);
    expect((await acme.send({ method: "GET", path: "/v1/contacts" })).status).toBe(200);
    expect(session.tokenRequests).toBe(1);
    expect(seen.map((s) => s.headers.get("authorization"))).toEqual(["Bearer token-1", "Bearer token-2"]);

    const again = scriptedAcme(clock, session, [json(401)]);
    const second = client(clock, session, again.transport).acme;
    expect((await second.send({ method: "GET", path: "/v1/contacts" })).status).toBe(401);
    expect(session.tokenRequests).toBe(2);
    expect(again.seen).toHaveLength(2);
  });

  it("stops calling Acme once the circuit opens, and lets a probe through after the open period", async () => {
    const clock = fakeClock();
    const session = memorySession(clock);
    const { transport, seen } = scriptedAcme(clock, session, [json(503)]);
    const { acme } = client(clock, session, transport);
    await problemOf(acme.send({ method: "GET", path: "/v1/contacts" }));
    const calls = seen.length;
    expect(session.state.snapshot(clock.now()).circuit.state).toBe("open");
    const refused = await problemOf(acme.send({ method: "GET", path: "/v1/contacts" }));
    expect(refused.code).toBe("acme_unavailable");
    expect(Number(refused.options.headers?.["Retry-After"])).toBeGreaterThanOrEqual(1);
    expect(seen).toHaveLength(calls);

    await clock.sleep(1000);
    const healthy = scriptedAcme(clock, session, [json(200)]);
    expect(
      (await client(clock, session, healthy.transport).acme.send({ method: "GET", path: "/v1/contacts" }))
        .status,
    ).toBe(200);
    expect(healthy.seen).toHaveLength(1);
    expect(session.state.snapshot(clock.now()).circuit.state).toBe("closed");
  });
});
