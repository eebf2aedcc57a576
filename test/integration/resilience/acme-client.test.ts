import { describe, expect, it } from "vitest";
import { AcmeClient, type Clock, type Verdict } from "../../../src/integration/acme-client/acme-client.ts";
import type { RequestStats } from "../../../src/integration/context.ts";
import { ApiError } from "../../../src/integration/errors.ts";
import { DEFAULT_BREAKER } from "../../../src/integration/resilience/circuit-breaker.ts";
import type { AcmeSessionApi, TokenGrant } from "../../../src/integration/session/protocol.ts";
import { SessionState } from "../../../src/integration/session/session-state.ts";
import { toBase64Url } from "../../../src/lib/ids.ts";
import { sealSecret } from "../../../src/lib/secret-box.ts";
import { problemOf } from "../helpers.ts";

const KEY = toBase64Url(new Uint8Array(32).fill(7));
const SEALED_SECRET = await sealSecret(KEY, "client-secret", "conn_test");

/** Virtual time: sleeping advances the clock at once, so waits are measured, not spent. */
function fakeClock(): Clock & { slept: number[] } {
  let now = 1_000_000;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
    random: () => 0.5,
  };
}

/** The AcmeSession's decisions (real SessionState) with a token store, in memory. */
function memorySession(
  clock: Clock,
): AcmeSessionApi & { state: SessionState; tokenRequests: number; nextToken: () => string } {
  const state = new SessionState({ ...DEFAULT_BREAKER, failureThreshold: 3, openMs: 1000 });
  let token: string | null = "token-1";
  let issued = 1;
  const session = {
    state,
    tokenRequests: 0,
    async begin(input: Parameters<AcmeSessionApi["begin"]>[0]) {
      const permit = state.admit(clock.now(), input.rateClass, input.priority, input.maxWaitMs);
      if (!permit.admitted) return { permit, grant: null };
      const grant: TokenGrant = token
        ? { kind: "token", accessToken: token, expiresAt: clock.now() + 3_600_000 }
        : { kind: "lease", leaseId: "lease" };
      return { permit, grant };
    },
    report: (report: Parameters<AcmeSessionApi["report"]>[0]) => state.record(clock.now(), report),
    storeToken: (_lease: string, accessToken: string) => {
      token = accessToken;
    },
    releaseLease: () => {},
    invalidateToken: (accessToken: string) => {
      if (token === accessToken) token = null;
    },
    nextToken: () => {
      issued += 1;
      session.tokenRequests += 1;
      return `token-${issued}`;
    },
  };
  return session;
}

type Handler = (request: Request) => Response | Promise<Response>;

/** A scripted Acme: answers come from the queue in order; the last one repeats. */
function scriptedAcme(clock: Clock, session: ReturnType<typeof memorySession>, script: Handler[]) {
  const seen: { method: string; path: string; headers: Headers; at: number }[] = [];
  const transport = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname.endsWith("/oauth/token")) {
      return Response.json({ access_token: session.nextToken(), token_type: "Bearer", expires_in: 3600 });
    }
    seen.push({
      method: request.method,
      path: url.pathname + url.search,
      headers: request.headers,
      at: clock.now(),
    });
    const handler = script.length > 1 ? script.shift() : script[0];
    return handler ? handler(request) : new Response(null, { status: 500 });
  };
  return { transport, seen };
}

const json =
  (status: number, body: unknown = {}, headers: Record<string, string> = {}) =>
  () =>
    Response.json(body, { status, headers });

function client(
  clock: Clock,
  session: AcmeSessionApi,
  transport: (r: Request) => Promise<Response>,
  overrides: { deadlineMs?: number; attemptTimeoutMs?: number } = {},
) {
  const stats: RequestStats = { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 };
  const acme = new AcmeClient({
    connection: {
      id: "conn_test",
      name: "test",
      acmeBaseUrl: null,
      acmeClientId: "client",
      acmeClientSecretEnc: SEALED_SECRET,
      webhookSecretEnc: null,
      reconciledThrough: null,
      createdAt: "",
    },
    session,
    inProcess: transport,
    defaultBaseUrl: undefined,
    encryptionKey: KEY,
    attemptTimeoutMs: overrides.attemptTimeoutMs ?? 2500,
    deadlineMs: overrides.deadlineMs ?? 3000,
    stats,
    clock,
  });
  return { acme, stats };
}

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
