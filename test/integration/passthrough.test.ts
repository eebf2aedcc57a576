import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { acmeProblem, isAcmeUnavailable } from "../../src/integration/acme-client/acme-errors.ts";
import { acmeFieldToApi } from "../../src/integration/contacts/mapping.ts";
import type { Lease } from "../../src/integration/session/token-lease.ts";
import { acme, tokenFor } from "../acme/helpers.ts";
import {
  api,
  type Contact,
  contactsWithEmail,
  createContact,
  errorFields,
  expectProblem,
  newConnection,
  person,
  type TestConnection,
  untilCircuitCloses,
} from "./helpers.ts";

const UNKNOWN_ID = "ct_00000000000000000000000000";

let key: string;

beforeAll(async () => {
  ({ apiKey: key } = await newConnection());
});

async function read(id: string): Promise<Contact> {
  const res = await api(`/api/v1/contacts/${id}`, { key });
  expect(res.status).toBe(200);
  return res.json<Contact>();
}

describe("404 from Acme", () => {
  it("an existing contact is found", async () => {
    const contact = await createContact(key);
    expect(await read(contact.id)).toEqual(contact);
  });

  it.each([
    ["GET", undefined],
    ["PUT", person()],
    ["PATCH", { title: "x" }],
    ["DELETE", undefined],
  ])("%s of an unknown id is 404 not_found", async (method, body) => {
    const res = await api(`/api/v1/contacts/${UNKNOWN_ID}`, { key, method, body });
    await expectProblem(res, 404, "not_found");
  });

  it("a deleted contact is 404 for every method afterwards", async () => {
    const contact = await createContact(key);
    expect((await api(`/api/v1/contacts/${contact.id}`, { key, method: "DELETE" })).status).toBe(204);
    for (const [method, body] of [
      ["GET", undefined],
      ["PATCH", { title: "x" }],
      ["DELETE", undefined],
    ] as const) {
      await expectProblem(
        await api(`/api/v1/contacts/${contact.id}`, { key, method, body }),
        404,
        "not_found",
      );
    }
  });
});

describe("409 duplicate_email", () => {
  it("a new email is accepted, one already taken is 409 naming email, and no second contact appears", async () => {
    const first = await createContact(key);
    const res = await api("/api/v1/contacts", {
      key,
      method: "POST",
      body: person({ email: first.email.toUpperCase() }),
    });
    const body = await expectProblem(res, 409, "duplicate_email");
    expect(errorFields(body)).toEqual(["email"]);
    expect(await contactsWithEmail(key, first.email)).toHaveLength(1);
  });

  it("PATCH to a free email succeeds; to a taken email is 409 and changes nothing", async () => {
    const taken = await createContact(key);
    const other = await createContact(key);
    const free = person().email;
    const moved = await api(`/api/v1/contacts/${other.id}`, { key, method: "PATCH", body: { email: free } });
    expect(moved.status).toBe(200);
    const res = await api(`/api/v1/contacts/${other.id}`, {
      key,
      method: "PATCH",
      body: { email: taken.email },
    });
    const body = await expectProblem(res, 409, "duplicate_email");
    expect(errorFields(body)).toEqual(["email"]);
    expect(await read(other.id)).toMatchObject({ email: free, version: 2 });
  });

  it("PUT to a taken email is 409", async () => {
    const taken = await createContact(key);
    const other = await createContact(key);
    const res = await api(`/api/v1/contacts/${other.id}`, {
      key,
      method: "PUT",
      body: person({ email: taken.email }),
    });
    await expectProblem(res, 409, "duplicate_email");
  });
});

describe("412 version_mismatch", () => {
  it.each([
    ["PUT", (): unknown => person({ firstName: "Changed" })],
    ["PATCH", (): unknown => ({ firstName: "Changed" })],
    ["DELETE", (): unknown => undefined],
  ] as const)(
    "%s with the current version applies; with a stale one is 412 and nothing changes",
    async (method, body) => {
      const stale = await createContact(key);
      const path = `/api/v1/contacts/${stale.id}`;
      const bumped = await api(path, {
        key,
        method: "PATCH",
        body: { title: "v2" },
        headers: { "if-match": '"1"' },
      });
      expect(bumped.status).toBe(200);
      const current = await bumped.json<Contact>();

      const rejected = await api(path, { key, method, body: body(), headers: { "if-match": '"1"' } });
      await expectProblem(rejected, 412, "version_mismatch");
      expect(await read(stale.id)).toEqual(current);

      const applied = await api(path, { key, method, body: body(), headers: { "if-match": '"2"' } });
      expect(applied.status).toBe(method === "DELETE" ? 204 : 200);
    },
  );
});

describe("validation errors produced by Acme", () => {
  it("an instant our schema accepts but Acme cannot (year 0000 shifted before year 0) is 400 naming updatedSince", async () => {
    // Ours is valid ISO 8601; converted to UTC it becomes -000001-12-31T23:00:00Z, which Acme refuses.
    const res = await api(
      `/api/v1/contacts?updatedSince=${encodeURIComponent("0000-01-01T00:00:00+01:00")}`,
      {
        key,
      },
    );
    const body = await expectProblem(res, 400, "validation_failed");
    expect(body.detail).toMatch(/Acme/);
    expect(errorFields(body)).toEqual(["updatedSince"]);
    const fine = await api(
      `/api/v1/contacts?updatedSince=${encodeURIComponent("0000-01-01T00:00:00-01:00")}`,
      {
        key,
      },
    );
    expect(fine.status).toBe(200);
  });

  it("acmeProblem keeps the status and renames Acme's fields to the API's", () => {
    const error = acmeProblem(
      400,
      {
        error: {
          code: "validation_failed",
          message: "bad",
          details: [
            { field: "acme_email", message: "Invalid email" },
            { field: "acme_first_name", message: "Too long" },
            { field: "acme_notes.0", message: "nested" },
          ],
        },
      },
      new Headers(),
      acmeFieldToApi,
    );
    expect(error.status).toBe(400);
    expect(error.code).toBe("validation_failed");
    expect(error.options.errors).toEqual([
      { field: "email", message: "Invalid email" },
      { field: "firstName", message: "Too long" },
      { field: "notes.0", message: "nested" },
    ]);
  });

  it.each([
    [404, "not_found", 404],
    [409, "duplicate_email", 409],
    [412, "version_mismatch", 412],
  ] as const)("acmeProblem passes %i through as %s", (status, code, expected) => {
    const error = acmeProblem(
      status,
      { error: { code, message: "x", details: [{ field: "acme_email", message: "m" }] } },
      new Headers(),
      acmeFieldToApi,
    );
    expect(error.code).toBe(code);
    expect(error.status).toBe(expected);
    expect(error.options.errors?.map((e) => e.field)).toEqual(["email"]);
  });

  it("acmeProblem never passes Acme's message or unknown bodies through", () => {
    const secretish = "internal stack trace at acme.db:42";
    const unavailable = acmeProblem(
      500,
      { error: { code: "internal_error", message: secretish } },
      new Headers(),
      acmeFieldToApi,
    );
    expect(unavailable.code).toBe("acme_unavailable");
    expect(unavailable.message).not.toContain(secretish);
    expect(unavailable.options.headers?.["Retry-After"]).toBe("1");
    const garbage = acmeProblem(418, "<html>teapot</html>", new Headers(), acmeFieldToApi);
    expect(garbage.code).toBe("acme_bad_response");
    expect(garbage.status).toBe(502);
  });

  it("acmeProblem maps 429 to acme_rate_limited with Acme's Retry-After, 401/403 to acme_auth_failed, 504 to acme_timeout", () => {
    const limited = acmeProblem(429, null, new Headers({ "retry-after": "17" }), acmeFieldToApi);
    expect([limited.code, limited.status, limited.options.headers?.["Retry-After"]]).toEqual([
      "acme_rate_limited",
      429,
      "17",
    ]);
    expect(acmeProblem(401, null, new Headers(), acmeFieldToApi).code).toBe("acme_auth_failed");
    expect(acmeProblem(403, null, new Headers(), acmeFieldToApi).code).toBe("acme_auth_failed");
    expect(acmeProblem(504, null, new Headers(), acmeFieldToApi).code).toBe("acme_timeout");
  });

  it("isAcmeUnavailable holds for 429, 503 and 504 problems and for nothing Acme decided or that is not a problem", () => {
    const headers = new Headers();
    for (const status of [429, 500, 503, 504]) {
      expect(isAcmeUnavailable(acmeProblem(status, null, headers)), String(status)).toBe(true);
    }
    for (const status of [400, 401, 404, 409, 412, 418]) {
      expect(isAcmeUnavailable(acmeProblem(status, null, headers)), String(status)).toBe(false);
    }
    expect(isAcmeUnavailable(new Error("acme_unavailable"))).toBe(false);
    expect(isAcmeUnavailable(undefined)).toBe(false);
  });
});

const adminHeaders = () => ({ authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` });

async function setFaults(profile: Record<string, unknown>): Promise<void> {
  const res = await acme("/admin/faults", { method: "PUT", headers: adminHeaders(), body: profile });
  expect(res.status).toBe(200);
  expect(res.headers.get("x-acme-faults-active")).toBe("true");
}

// The fault profile is global to the Acme mock: these tests run one at a time and always reset it.
describe.sequential("Acme faults as the caller sees them", () => {
  // A fresh connection per test: failures open the connection's circuit breaker, by design.
  let connection: TestConnection;
  let key: string;
  beforeEach(async () => {
    connection = await newConnection();
    key = connection.apiKey;
  });
  afterEach(async () => {
    await setFaults({});
  });

  /** What Acme itself holds for this connection's account (not through the integration). */
  async function atAcme(email: string) {
    const token = await tokenFor(connection.acmeClient);
    const res = await acme(`/v1/contacts?email=${encodeURIComponent(email)}`, { token });
    return (await res.json<{ results: unknown[] }>()).results;
  }

  it("with no faults a list succeeds", async () => {
    await setFaults({ enabled: false, errorRate: 1, statusMix: { "503": 1 } });
    expect((await api("/api/v1/contacts", { key })).status).toBe(200);
  });

  it("Acme 503 on reads is 503 acme_unavailable with Retry-After, and Acme's body stays inside", async () => {
    await api("/api/v1/contacts", { key }); // token fetched before the fault
    await setFaults({ enabled: true, errorRate: 1, statusMix: { "503": 1 }, methods: ["GET"] });
    const res = await api("/api/v1/contacts", { key });
    const body = await expectProblem(res, 503, "acme_unavailable");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(body)).not.toMatch(/injected|service_unavailable/);
  });

  it("Acme 500/502 on writes is 503 acme_unavailable too, and the contact is not created", async () => {
    await api("/api/v1/contacts", { key });
    await setFaults({ enabled: true, errorRate: 1, statusMix: { "500": 1, "502": 1 }, methods: ["POST"] });
    const input = person();
    const res = await api("/api/v1/contacts", { key, method: "POST", body: input });
    await expectProblem(res, 503, "acme_unavailable");
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
    await setFaults({});
    expect(await atAcme(input.email)).toEqual([]);
  });

  it("a create that fails with 503 frees its Idempotency-Key: the retry runs and creates the contact once", async () => {
    await api("/api/v1/contacts", { key });
    await setFaults({ enabled: true, errorRate: 1, statusMix: { "503": 1 }, methods: ["POST"] });
    const input = person();
    const headers = { "idempotency-key": `retry-${crypto.randomUUID()}` };
    await expectProblem(
      await api("/api/v1/contacts", { key, method: "POST", body: input, headers }),
      503,
      "acme_unavailable",
    );
    await setFaults({});
    await untilCircuitCloses(key);
    const retried = await api("/api/v1/contacts", { key, method: "POST", body: input, headers });
    expect(retried.status).toBe(201);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
    expect(await atAcme(input.email)).toHaveLength(1);
  });

  it("an Acme 429 burst is 429 acme_rate_limited carrying Acme's Retry-After", async () => {
    await api("/api/v1/contacts", { key });
    await setFaults({
      enabled: true,
      rateLimitBurst: { every: 1, length: 1, retryAfterSeconds: 7 },
      methods: ["GET"],
    });
    const res = await api("/api/v1/contacts", { key });
    await expectProblem(res, 429, "acme_rate_limited");
    expect(res.headers.get("retry-after")).toBe("7");
  });

  it("a token endpoint failure is 503 and frees the lease, so the next call fetches a token at once", async () => {
    const fresh = await newConnection();
    const session = env.ACME_SESSION.get(env.ACME_SESSION.idFromName(fresh.connectionId));
    // The connection's backfill fetched a token: forget it, so the next call needs a new one.
    await runInDurableObject(session, (instance) => {
      (instance as unknown as { ctx: DurableObjectState }).ctx.storage.kv.delete("token");
    });
    await setFaults({ enabled: true, errorRate: 1, statusMix: { "503": 1 }, methods: ["POST"] });
    const failed = await api("/api/v1/contacts", { key: fresh.apiKey });
    await expectProblem(failed, 503, "acme_unavailable");
    expect(failed.headers.get("retry-after")).toMatch(/^\d+$/);
    // A lease left behind would park the next caller for LEASE_MS (10 s).
    const lease = await runInDurableObject(
      session,
      (instance) => (instance as unknown as { lease: Lease | null }).lease,
    );
    expect(lease).toBeNull();
    await setFaults({});
    const after = await api("/api/v1/contacts", { key: fresh.apiKey });
    expect(after.status, await after.clone().text()).toBe(200);
  });

  it("Acme hanging past the per-attempt timeout is 504 acme_timeout", async () => {
    await api("/api/v1/contacts", { key });
    await setFaults({ enabled: true, timeoutRate: 1, timeoutMs: 5000, methods: ["GET"] });
    const res = await api("/api/v1/contacts", { key });
    await expectProblem(res, 504, "acme_timeout");
    expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
  });
});
