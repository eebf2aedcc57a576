import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { Ajv2020 } from "ajv/dist/2020.js";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { AcmeContact } from "../../src/acme/contacts/schemas.ts";
import {
  chooseFault,
  DEFAULT_FAULT_PROFILE,
  type FaultProfile,
  FaultProfileSchema,
  parseFaultHeader,
  seededRandom,
} from "../../src/acme/faults/fault-profile.ts";
import { createApp } from "../../src/app.ts";
import { ACME, acme, detailFields, expectAcmeError, signedIn, uniqueEmail } from "./helpers.ts";

const admin = { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` };

function putProfile(profile: unknown): Promise<Response> {
  return acme("/admin/faults", { method: "PUT", headers: admin, body: profile });
}

async function storedProfile(): Promise<FaultProfile> {
  const res = await acme("/admin/faults", { headers: admin });
  expect(res.status).toBe(200);
  return res.json<FaultProfile>();
}

async function findByEmail(token: string, email: string): Promise<AcmeContact[]> {
  const res = await acme(`/v1/contacts?email=${encodeURIComponent(email)}`, { token });
  expect(res.status).toBe(200);
  return (await res.json<{ results: AcmeContact[] }>()).results;
}

/** A profile as the API stores it: every field present, defaults filled in. */
const profile = (fields: Partial<FaultProfile>): FaultProfile => FaultProfileSchema.parse(fields);

/** A `random` that replays fixed draws (then zeros), counting how many were taken. */
function draws(...values: number[]) {
  let taken = 0;
  const random = () => values[taken++] ?? 0;
  return { random, taken: () => taken };
}

describe("parseFaultHeader", () => {
  it.each([
    ["status=503", { kind: "status", status: 503, phase: "before", delayMs: 0 }],
    [
      "status=429; retry-after=2",
      { kind: "status", status: 429, phase: "before", delayMs: 0, retryAfterSeconds: 2 },
    ],
    ["status=500; phase=after", { kind: "status", status: 500, phase: "after", delayMs: 0 }],
    ["status=502, delay=20", { kind: "status", status: 502, phase: "before", delayMs: 20 }],
    [
      " Status = 504 ;  Retry-After=0 ",
      { kind: "status", status: 504, phase: "before", delayMs: 0, retryAfterSeconds: 0 },
    ],
    ["delay=800", { kind: "delay", delayMs: 800 }],
    ["timeout", { kind: "timeout", delayMs: 30_000 }],
    ["timeout=2000", { kind: "timeout", delayMs: 2000 }],
  ])("reads %j", (header, fault) => {
    expect(parseFaultHeader(header)).toEqual(fault);
  });

  it.each([
    [""],
    ["status"],
    ["status=200"],
    ["status=404"],
    ["status=501"],
    ["status=abc"],
    ["status=503.5"],
    ["status=0x1f4"],
    ["status=5e2"],
    ["status=503; phase=during"],
    ["delay=-1"],
    ["delay=60001"],
    ["delay=fast"],
    ["timeout=120001"],
    ["status=429; retry-after=3601"],
    ["explode=1"],
    ["status=503; explode"],
  ])("refuses %j with a reason", (header) => {
    const parsed = parseFaultHeader(header);
    expect(parsed).toEqual({ error: expect.stringContaining("X-Acme-Fault") });
  });
});

describe("chooseFault", () => {
  const enabled = (fields: Partial<FaultProfile>) => profile({ enabled: true, ...fields });

  it("injects nothing while the profile is disabled, yet takes the same four draws", () => {
    const { random, taken } = draws(0, 0, 0, 0);
    expect(chooseFault(profile({ errorRate: 1, timeoutRate: 1 }), "GET", 0, random)).toBeNull();
    expect(taken()).toBe(4);
  });

  it("takes exactly four draws whatever the outcome, so a seeded sequence stays aligned", () => {
    for (const p of [
      enabled({}),
      enabled({ errorRate: 1 }),
      enabled({ timeoutRate: 1 }),
      enabled({ methods: ["PUT"] }),
    ]) {
      const { random, taken } = draws(0.1, 0.1, 0.1, 0.1);
      chooseFault(p, "GET", 3, random);
      expect(taken()).toBe(4);
    }
  });

  it("fails a request when the error draw falls under errorRate, and not otherwise", () => {
    const p = enabled({ errorRate: 0.5, statusMix: { "502": 1 }, errorPhase: "after" });
    expect(chooseFault(p, "GET", 0, draws(0.49, 0.9, 0, 0).random)).toEqual({
      kind: "status",
      status: 502,
      phase: "after",
      delayMs: 0,
    });
    expect(chooseFault(p, "GET", 0, draws(0.5, 0.9, 0, 0).random)).toBeNull();
  });

  it("picks the 5xx by weight from statusMix", () => {
    const p = enabled({ errorRate: 1, statusMix: { "500": 1, "503": 3 } });
    // The status draw lands on [0, 0.25) for 500 and [0.25, 1) for 503.
    const pick = (statusDraw: number) => chooseFault(p, "GET", 0, draws(0, 0.9, 0, statusDraw).random);
    expect(pick(0.2)).toMatchObject({ status: 500 });
    expect(pick(0.25)).toMatchObject({ status: 503 });
    expect(pick(0.99)).toMatchObject({ status: 503 });
  });

  it("times out before it fails, with the profile's timeout as the delay", () => {
    const p = enabled({ errorRate: 1, timeoutRate: 0.3, timeoutMs: 1234 });
    expect(chooseFault(p, "GET", 0, draws(0, 0.29, 0, 0).random)).toEqual({ kind: "timeout", delayMs: 1234 });
    expect(chooseFault(p, "GET", 0, draws(0, 0.3, 0, 0).random)).toMatchObject({ kind: "status" });
  });

  it("refuses the first `length` of every `every` requests with 429 when a burst is configured", () => {
    const p = enabled({ rateLimitBurst: { every: 5, length: 2, retryAfterSeconds: 7 } });
    const kinds = Array.from({ length: 10 }, (_, sequence) =>
      chooseFault(p, "GET", sequence, draws(1, 1, 0, 0).random),
    );
    expect(kinds.map((f) => (f?.kind === "status" ? f.status : null))).toEqual([
      429,
      429,
      null,
      null,
      null,
      429,
      429,
      null,
      null,
      null,
    ]);
    expect(kinds[0]).toMatchObject({ retryAfterSeconds: 7, phase: "before" });
  });

  it("adds latency between min and max, alone when nothing else fires", () => {
    const p = enabled({ latencyMs: { min: 100, max: 200 } });
    expect(chooseFault(p, "GET", 0, draws(1, 1, 0, 0).random)).toEqual({ kind: "delay", delayMs: 100 });
    expect(chooseFault(p, "GET", 0, draws(1, 1, 0.9999, 0).random)).toEqual({ kind: "delay", delayMs: 200 });
  });

  it("leaves methods outside `methods` alone", () => {
    const p = enabled({ errorRate: 1, methods: ["POST", "DELETE"] });
    expect(chooseFault(p, "GET", 0, draws(0, 1, 0, 0).random)).toBeNull();
    expect(chooseFault(p, "POST", 0, draws(0, 1, 0, 0).random)).toMatchObject({ kind: "status" });
  });

  it("property: a 5xx is always a weighted status of the mix, and latency stays within bounds", () => {
    const arbitraryProfile = fc.record({
      errorRate: fc.double({ min: 0, max: 1, noNaN: true }),
      mix: fc.record({ "500": fc.nat(5), "502": fc.nat(5), "503": fc.nat(5), "504": fc.nat(5) }),
      min: fc.nat(1000),
      spread: fc.nat(1000),
    });
    const draw = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
    fc.assert(
      fc.property(
        arbitraryProfile,
        fc.tuple(draw, draw, draw, draw),
        ({ errorRate, mix, min, spread }, values) => {
          fc.pre(Object.values(mix).some((w) => w > 0));
          const p = enabled({ errorRate, statusMix: mix, latencyMs: { min, max: min + spread } });
          const fault = chooseFault(p, "GET", 0, draws(...values).random);
          if (fault?.kind === "status")
            expect(mix[String(fault.status) as keyof typeof mix]).toBeGreaterThan(0);
          if (fault) {
            expect(fault.delayMs).toBeGreaterThanOrEqual(min);
            expect(fault.delayMs).toBeLessThanOrEqual(min + spread);
          }
          expect(fault?.kind === "status").toBe(values[0] < errorRate);
        },
      ),
    );
  });
});

describe("seededRandom", () => {
  const take = (seed: number, n: number) => {
    const random = seededRandom(seed);
    return Array.from({ length: n }, () => random());
  };

  it("repeats the same sequence for the same seed and differs for another", () => {
    expect(take(42, 50)).toEqual(take(42, 50));
    expect(take(42, 50)).not.toEqual(take(43, 50));
  });

  it("spreads values over [0, 1)", () => {
    const values = take(42, 10_000);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
    expect(values.filter((v) => v < 0.5).length).toBeGreaterThan(4500);
  });

  it("property: every value of every seed lies in [0, 1)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (seed) => {
        for (const value of take(seed, 100)) {
          expect(value).toBeGreaterThanOrEqual(0);
          expect(value).toBeLessThan(1);
        }
      }),
    );
  });
});

// The profile is global to this Worker's Acme, so everything that sets it runs in order and puts
// it back to disabled afterwards.
describe.sequential("fault injection over HTTP", () => {
  beforeAll(async () => {
    expect((await putProfile({})).status).toBe(200);
  });
  afterEach(async () => {
    expect((await putProfile({})).status).toBe(200);
  });
  afterAll(async () => {
    expect((await putProfile({})).status).toBe(200);
  });

  describe("X-Acme-Fault header", () => {
    it("status=503 answers 503 service_unavailable as Acme JSON", async () => {
      const { token } = await signedIn();
      const res = await acme("/v1/contacts", { token, headers: { "x-acme-fault": "status=503" } });
      await expectAcmeError(res, 503, "service_unavailable");
      expect(res.headers.get("x-acme-fault-injected")).toBe("status=503");
    });

    it.each([
      [500, "internal_error"],
      [502, "bad_gateway"],
      [504, "gateway_timeout"],
    ])("status=%i answers that status with code %s", async (status, code) => {
      const { token } = await signedIn();
      const res = await acme("/v1/contacts", { token, headers: { "x-acme-fault": `status=${status}` } });
      await expectAcmeError(res, status, code);
    });

    it("status=429; retry-after=2 answers 429 rate_limited with Retry-After: 2", async () => {
      const { token } = await signedIn();
      const res = await acme("/v1/contacts", {
        token,
        headers: { "x-acme-fault": "status=429; retry-after=2" },
      });
      await expectAcmeError(res, 429, "rate_limited");
      expect(res.headers.get("retry-after")).toBe("2");
    });

    it("delay=50 still succeeds and says the delay was injected", async () => {
      const { token } = await signedIn();
      const res = await acme("/v1/contacts", { token, headers: { "x-acme-fault": "delay=50" } });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-acme-fault-injected")).toBe("delay");
      expect(await res.json()).toEqual({ results: [] });
    });

    it("timeout=50 answers 504 gateway_timeout", async () => {
      const { token } = await signedIn();
      const res = await acme("/v1/contacts", { token, headers: { "x-acme-fault": "timeout=50" } });
      await expectAcmeError(res, 504, "gateway_timeout");
      expect(res.headers.get("x-acme-fault-injected")).toBe("timeout");
    });

    it("status=500; phase=after fails a POST that has nonetheless created the contact", async () => {
      const { token } = await signedIn();
      const email = uniqueEmail("ambiguous");
      const res = await acme("/v1/contacts", {
        token,
        method: "POST",
        body: { acme_email: email },
        headers: { "x-acme-fault": "status=500; phase=after" },
      });
      await expectAcmeError(res, 500, "internal_error");
      const found = await findByEmail(token, email);
      expect(found.map((c) => c.acme_email)).toEqual([email]);
    });

    it("a fault before the work (the default phase) leaves nothing behind", async () => {
      const { token } = await signedIn();
      const email = uniqueEmail("never");
      const res = await acme("/v1/contacts", {
        token,
        method: "POST",
        body: { acme_email: email },
        headers: { "x-acme-fault": "status=503" },
      });
      await expectAcmeError(res, 503, "service_unavailable");
      expect(await findByEmail(token, email)).toEqual([]);
    });

    it("also applies to the token endpoint", async () => {
      const res = await acme("/oauth/token", {
        method: "POST",
        body: "grant_type=client_credentials",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-acme-fault": "status=503" },
      });
      await expectAcmeError(res, 503, "service_unavailable");
    });

    it.each([["status=200"], ["status=501"], ["delay=soon"], ["chaos"]])(
      "refuses the malformed header %j with 400 naming X-Acme-Fault, and does no work",
      async (header) => {
        const { token } = await signedIn();
        const email = uniqueEmail();
        const res = await acme("/v1/contacts", {
          token,
          method: "POST",
          body: { acme_email: email },
          headers: { "x-acme-fault": header },
        });
        const body = await expectAcmeError(res, 400, "validation_failed");
        expect(detailFields(body)).toEqual(["X-Acme-Fault"]);
        expect(await findByEmail(token, email)).toEqual([]);
      },
    );

    it("never touches the admin routes, so a test can always switch faults off", async () => {
      const res = await acme("/admin/faults", { headers: { ...admin, "x-acme-fault": "status=503" } });
      expect(res.status).toBe(200);
    });
  });

  describe("profile (admin)", () => {
    it("stores a profile with defaults filled in and returns it from GET", async () => {
      const res = await putProfile({ enabled: true, seed: 7, errorRate: 0.25, methods: ["PUT"] });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-acme-faults-active")).toBe("true");
      const expected = profile({ enabled: true, seed: 7, errorRate: 0.25, methods: ["PUT"] });
      expect(await res.json()).toEqual(expected);
      expect(await storedProfile()).toEqual(expected);
    });

    it("stores an empty profile as the disabled default", async () => {
      await putProfile({ enabled: true, errorRate: 1 });
      expect((await putProfile({})).status).toBe(200);
      expect(await storedProfile()).toEqual(DEFAULT_FAULT_PROFILE);
      expect(DEFAULT_FAULT_PROFILE.enabled).toBe(false);
    });

    it.each([
      ["an error rate above 1", { errorRate: 2 }, ["errorRate"]],
      ["a negative timeout rate", { timeoutRate: -0.1 }, ["timeoutRate"]],
      ["an unknown field", { enabled: true, chaos: "max" }, ["chaos"]],
      ["latency with min above max", { latencyMs: { min: 10, max: 5 } }, ["latencyMs"]],
      ["a status mix without weight", { statusMix: { "503": 0 } }, ["statusMix"]],
      ["a status outside the mix", { statusMix: { "418": 1 } }, ["statusMix.418"]],
      ["an unknown method", { methods: ["TRACE"] }, ["methods.0"]],
    ])("refuses %s with 400 naming it, keeping the stored profile", async (_label, body, fields) => {
      const kept = profile({ enabled: false, seed: 99, errorRate: 0.1 });
      expect((await putProfile(kept)).status).toBe(200);
      const body400 = await expectAcmeError(await putProfile(body), 400, "validation_failed");
      expect(detailFields(body400)).toEqual(expect.arrayContaining(fields));
      expect(await storedProfile()).toEqual(kept);
    });

    it("is documented as refusing the status mixes the server refuses", async () => {
      const doc = await (await acme("/openapi.json")).json<{
        components: { schemas: { FaultProfile: { properties: { statusMix: object } } } };
      }>();
      const documented = new Ajv2020({ strict: false }).compile(
        doc.components.schemas.FaultProfile.properties.statusMix,
      );
      for (const mix of [{ "503": 1 }, { "500": 0, "503": 2 }, { "500": 1, "503": 1 }]) {
        expect(documented(mix), JSON.stringify(mix)).toBe(true);
        expect((await putProfile({ statusMix: mix })).status).toBe(200);
      }
      for (const mix of [{}, { "503": 0 }, { "418": 1 }, { "500": -1, "503": 1 }]) {
        expect(documented(mix), JSON.stringify(mix)).toBe(false);
        await expectAcmeError(await putProfile({ statusMix: mix }), 400, "validation_failed");
      }
      await putProfile({});
    });

    it("refuses malformed JSON, keeping the stored profile", async () => {
      const kept = profile({ seed: 5 });
      await putProfile(kept);
      const res = await acme("/admin/faults", { method: "PUT", headers: admin, body: "{enabled: true" });
      expect(res.status).toBe(400);
      expect(await storedProfile()).toEqual(kept);
    });

    it("replays the same status sequence for the same seed", async () => {
      const { token } = await signedIn();
      const seeded = { enabled: true, seed: 42, errorRate: 0.5 };
      const run = async () => {
        const statuses: number[] = [];
        for (let i = 0; i < 20; i++) statuses.push((await acme("/v1/contacts", { token })).status);
        return statuses;
      };

      expect((await putProfile(seeded)).status).toBe(200);
      const first = await run();
      // Another profile in between, so that storing the same one again restarts its sequence.
      expect((await putProfile({ ...seeded, seed: 43 })).status).toBe(200);
      await run();
      expect((await putProfile(seeded)).status).toBe(200);
      const second = await run();

      expect(second).toEqual(first);
      expect(first).toContain(200);
      expect(first.some((s) => s >= 500)).toBe(true);

      // And it is the sequence the seed dictates.
      const random = seededRandom(42);
      const predicted = first.map((_, sequence) => {
        const fault = chooseFault(profile(seeded), "GET", sequence, random);
        return fault?.kind === "status" ? fault.status : 200;
      });
      expect(first).toEqual(predicted);
    });

    it("refuses the first `length` of every `every` requests with 429 during a burst", async () => {
      const { token } = await signedIn();
      const burst = { every: 4, length: 2, retryAfterSeconds: 3 };
      expect((await putProfile({ enabled: true, rateLimitBurst: burst })).status).toBe(200);
      const responses: Response[] = [];
      for (let i = 0; i < 8; i++) responses.push(await acme("/v1/contacts", { token }));
      const expected = responses.map((_, i) => (i % burst.every < burst.length ? 429 : 200));
      expect(responses.map((r) => r.status)).toEqual(expected);
      for (const res of responses.filter((r) => r.status === 429)) {
        expect(res.headers.get("retry-after")).toBe("3");
        expect((await res.json<{ error: { code: string } }>()).error.code).toBe("rate_limited");
      }
    });

    it("leaves GETs alone when the profile targets POST only", async () => {
      const { token } = await signedIn();
      expect((await putProfile({ enabled: true, errorRate: 1, methods: ["POST"] })).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await acme("/v1/contacts", { token })).status).toBe(200);
      const email = uniqueEmail();
      const post = await acme("/v1/contacts", { token, method: "POST", body: { acme_email: email } });
      expect([500, 503]).toContain(post.status);
      expect(await findByEmail(token, email)).toEqual([]);
    });

    it("answers with the mix's status and injects timeouts and latency", async () => {
      const { token } = await signedIn();
      await putProfile({ enabled: true, errorRate: 1, statusMix: { "502": 1 } });
      await expectAcmeError(await acme("/v1/contacts", { token }), 502, "bad_gateway");

      await putProfile({ enabled: true, timeoutRate: 1, timeoutMs: 30 });
      await expectAcmeError(await acme("/v1/contacts", { token }), 504, "gateway_timeout");

      await putProfile({ enabled: true, latencyMs: { min: 20, max: 30 } });
      const slow = await acme("/v1/contacts", { token });
      expect(slow.status).toBe(200);
      expect(slow.headers.get("x-acme-fault-injected")).toBe("delay");
    });

    it("is switched off by storing a disabled profile", async () => {
      const { token } = await signedIn();
      await putProfile({ enabled: true, errorRate: 1 });
      expect((await acme("/v1/contacts", { token })).status).toBeGreaterThanOrEqual(500);
      await putProfile({ enabled: false, errorRate: 1 });
      expect((await acme("/v1/contacts", { token })).status).toBe(200);
    });
  });

  describe("with ACME_FAULTS_ENABLED=false", () => {
    const disabledEnv = { ...env, ACME_FAULTS_ENABLED: "false" };

    async function callDisabled(path: string, init: RequestInit): Promise<Response> {
      const ctx = createExecutionContext();
      const res = await createApp().fetch(new Request(`${ACME}${path}`, init), disabledEnv, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    }

    it("ignores the X-Acme-Fault header that the enabled deployment obeys", async () => {
      const { token } = await signedIn();
      const init = { headers: { authorization: `Bearer ${token}`, "x-acme-fault": "status=503" } };
      await expectAcmeError(await acme("/v1/contacts", init), 503, "service_unavailable");
      const res = await callDisabled("/v1/contacts", init);
      expect(res.status).toBe(200);
      expect(res.headers.get("x-acme-fault-injected")).toBeNull();
    });

    it("ignores even a malformed header", async () => {
      const { token } = await signedIn();
      const res = await callDisabled("/v1/contacts", {
        headers: { authorization: `Bearer ${token}`, "x-acme-fault": "status=200" },
      });
      expect(res.status).toBe(200);
    });

    it("ignores a stored profile, and says so when one is stored", async () => {
      const { token } = await signedIn();
      const stored = await callDisabled("/admin/faults", {
        method: "PUT",
        headers: { ...admin, "content-type": "application/json" },
        body: JSON.stringify({ enabled: true, errorRate: 1 }),
      });
      expect(stored.status).toBe(200);
      expect(stored.headers.get("x-acme-faults-active")).toBe("false");
      const res = await callDisabled("/v1/contacts", { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
    });
  });
});
