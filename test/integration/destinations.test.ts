import { env, runInDurableObject } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type CourierDeps,
  courierOf,
  courierRuntime,
  type DestinationCourier,
} from "../../src/integration/destinations/courier.ts";
import { defineProperties, mapFields } from "./custom-field-helpers.ts";
import { api, expectProblem, newConnection, type TestConnection } from "./helpers.ts";
import { acmeContact, consume, eventBody, inboxMessage } from "./inbox-helpers.ts";

// Destinations through the API, and their couriers run with a receiver handed in (what they POST
// is checked as a receiver would: the signature with the Standard Webhooks reference library).

const RECEIVER = "https://hooks.acme-bridge.dev/in";

interface Destination {
  id: string;
  url: string;
  events: string[];
  status: string;
  disabledReason: string | null;
  secret?: string;
}

interface Attempt {
  id: string;
  deliveryId: string;
  eventId: string;
  seq: number;
  attempt: number;
  status: string;
  responseStatus: number | null;
  responseExcerpt: string;
  attemptedAt: string;
  nextAttemptAt: string | null;
}

interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
}

async function createDestination(key: string, body: Record<string, unknown> = {}): Promise<Destination> {
  const res = await api("/api/v1/destinations", { key, method: "POST", body: { url: RECEIVER, ...body } });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json<Destination>();
}

/**
 * The receiver of every courier of this isolate for the test that runs (their alarms POST here):
 * it answers with `answer(request number, request)` and records what it got.
 */
let received: Received[] = [];
let answer: (n: number, request: Received) => Response | Promise<Response> = () => new Response("ok");
const saved = { ...courierRuntime };

beforeEach(() => {
  received = [];
  answer = () => new Response("ok");
  Object.assign(courierRuntime, {
    fetch: async (url: string, init: RequestInit) => {
      const request = {
        url,
        headers: Object.fromEntries(new Headers(init.headers).entries()),
        body: String(init.body),
      };
      received.push(request);
      return answer(received.length, request);
    },
    now: () => Date.now(),
    random: () => 0.5,
  } satisfies CourierDeps);
});

afterEach(() => {
  Object.assign(courierRuntime, saved);
});

/** Runs the destination's courier once now (its alarm may run too: both use `courierRuntime`). */
function runCourier(connection: TestConnection, destinationId: string): Promise<number> {
  return runInDurableObject(
    courierOf(env, connection.connectionId, destinationId),
    (instance: DestinationCourier) => instance.run(courierRuntime),
  );
}

/** Waits until `check` holds, polling (the couriers' alarms deliver in the background). */
async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function webhookChange(
  connection: TestConnection,
  contactId: string,
  version: number,
  type = "contact.created",
) {
  await consume([
    {
      body: inboxMessage(
        connection.connectionId,
        `msg_${contactId}_${version}`,
        eventBody(type, acmeContact(contactId, version)),
      ),
    },
  ]);
}

async function attempts(key: string, id: string, query = ""): Promise<Attempt[]> {
  const res = await api(`/api/v1/destinations/${id}/deliveries?limit=100${query}`, { key });
  expect(res.status).toBe(200);
  return (await res.json<{ data: Attempt[] }>()).data;
}

describe("destinations: the routes", () => {
  it("creates a destination with its secret shown once, lists, reads, changes and deletes it", async () => {
    const connection = await newConnection();
    const key = connection.apiKey;
    const created = await createDestination(key, { description: "our app" });
    expect(created).toMatchObject({
      url: RECEIVER,
      status: "enabled",
      events: ["contact.created", "contact.updated", "contact.deleted"],
    });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const read = await (await api(`/api/v1/destinations/${created.id}`, { key })).json<Destination>();
    expect(read.secret).toBeUndefined();
    expect(
      (await (await api("/api/v1/destinations", { key })).json<{ data: Destination[] }>()).data.map(
        (d) => d.id,
      ),
    ).toContain(created.id);
    const patched = await api(`/api/v1/destinations/${created.id}`, {
      key,
      method: "PATCH",
      body: { events: ["contact.deleted"], status: "disabled" },
    });
    expect(await patched.json()).toMatchObject({ events: ["contact.deleted"], status: "disabled" });
    expect((await api(`/api/v1/destinations/${created.id}`, { key, method: "DELETE" })).status).toBe(204);
    await expectProblem(await api(`/api/v1/destinations/${created.id}`, { key }), 404, "not_found");
  });

  it("refuses URLs the webhook policy refuses, bad filters and unknown fields, naming the field; another connection's destination is 404", async () => {
    const connection = await newConnection();
    const key = connection.apiKey;
    for (const url of [
      "http://hooks.acme-bridge.dev/in",
      "https://10.0.0.7/in",
      "https://localhost/in",
      "https://[::1]/in",
      "https://0x7f000001/in",
      "not a url",
    ]) {
      const res = await api("/api/v1/destinations", { key, method: "POST", body: { url } });
      const problem = await expectProblem(res, 400, "validation_failed");
      expect(
        problem.errors?.map((e) => e.field),
        url,
      ).toEqual(["url"]);
    }
    await expectProblem(
      await api("/api/v1/destinations", {
        key,
        method: "POST",
        body: { url: RECEIVER, events: ["contact.merged"] },
      }),
      400,
      "validation_failed",
    );
    await expectProblem(
      await api("/api/v1/destinations", { key, method: "POST", body: { url: RECEIVER, colour: "red" } }),
      400,
      "validation_failed",
    );
    const mine = await createDestination(key);
    const other = await newConnection();
    await expectProblem(
      await api(`/api/v1/destinations/${mine.id}`, { key: other.apiKey }),
      404,
      "not_found",
    );
    await expectProblem(
      await api(`/api/v1/destinations/${mine.id}`, { key: other.apiKey, method: "DELETE" }),
      404,
      "not_found",
    );
  });
});

describe("destinations: delivery", () => {
  it("POSTs each change as a Standard Webhook the reference library verifies, with the feed entry as data, and logs the attempt", async () => {
    const connection = await newConnection();
    const destination = await createDestination(connection.apiKey);
    await webhookChange(connection, "ct_d1", 1);
    await until(async () => (await attempts(connection.apiKey, destination.id)).length === 1, "the delivery");
    const [request] = received;
    expect(received).toHaveLength(1);
    expect(request?.url).toBe(RECEIVER);
    const payload = new Webhook(destination.secret as string).verify(
      request?.body as string,
      request?.headers as Record<string, string>,
    ) as { type: string; data: { seq: number; id: string; contact: { id: string; version: number } } };
    expect(payload.type).toBe("contact.created");
    expect(payload.data.contact).toMatchObject({ id: "ct_d1", version: 1 });
    expect(request?.headers["webhook-id"]).toBe(payload.data.id);
    const feed = await (await api("/api/v1/events?after=0", { key: connection.apiKey })).json<{
      data: unknown[];
    }>();
    expect(payload.data).toEqual(feed.data[0]);
    const [logged] = await attempts(connection.apiKey, destination.id);
    expect(logged).toMatchObject({
      status: "succeeded",
      attempt: 1,
      responseStatus: 200,
      responseExcerpt: "ok",
      seq: payload.data.seq,
    });
  });

  it("carries the connection's custom fields as the mapping stands when the entry is sent, never its raw or unmapped values", async () => {
    const connection = await newConnection();
    await defineProperties(connection, [
      { name: "contract_tier", label: "Contract tier", type: "enumeration", options: ["silver", "gold"] },
      { name: "region", label: "Region", type: "string" },
    ]);
    await mapFields(connection.apiKey, { tier: { remote: "contract_tier" } });
    const destination = await createDestination(connection.apiKey);
    const v1 = acmeContact("ct_dcf", 1, { acme_custom: { contract_tier: "silver", region: "EU" } });
    const v2 = acmeContact("ct_dcf", 2, {
      acme_first_name: v1.acme_first_name,
      acme_custom: { contract_tier: "gold", region: "EU" },
    });
    await consume([
      { body: inboxMessage(connection.connectionId, "msg_dcf_1", eventBody("contact.created", v1)) },
    ]);
    await consume([
      { body: inboxMessage(connection.connectionId, "msg_dcf_2", eventBody("contact.updated", v2, v1)) },
    ]);
    await until(
      async () => (await attempts(connection.apiKey, destination.id)).length === 2,
      "the deliveries",
    );
    const verify = (body: string, headers: Record<string, string>) =>
      new Webhook(destination.secret as string).verify(body, headers) as {
        data: { contact: { customFields: unknown }; changes: unknown };
      };
    const payloads = received.map((r) => verify(r.body, r.headers));
    expect(payloads.map((p) => p.data.contact.customFields)).toEqual([{ tier: "silver" }, { tier: "gold" }]);
    expect(payloads[1]?.data.changes).toEqual({ "customFields.tier": { from: "silver", to: "gold" } });
    for (const r of received) {
      expect(r.body).not.toContain("region");
      expect(r.body).not.toContain("acme_custom");
    }
    // Sent again after a mapping change: the entry goes out under the new one.
    await mapFields(connection.apiKey, { plan: { remote: "contract_tier" }, area: { remote: "region" } });
    const latest = (await attempts(connection.apiKey, destination.id)).sort((x, y) => y.seq - x.seq)[0];
    const retried = await api(
      `/api/v1/destinations/${destination.id}/deliveries/${latest?.deliveryId}/retry`,
      {
        key: connection.apiKey,
        method: "POST",
      },
    );
    expect(retried.status).toBe(202);
    await runCourier(connection, destination.id);
    await until(() => received.length === 3, "the delivery sent again");
    const again = verify(received[2]?.body as string, received[2]?.headers as Record<string, string>);
    expect(again.data.contact.customFields).toEqual({ area: "EU", plan: "gold" });
    expect(again.data.changes).toEqual({ "customFields.plan": { from: "silver", to: "gold" } });
  });

  it("delivers only the types a destination takes", async () => {
    const connection = await newConnection();
    const deletions = await createDestination(connection.apiKey, { events: ["contact.deleted"] });
    await webhookChange(connection, "ct_f1", 1);
    expect(await runCourier(connection, deletions.id)).toBe(0);
    expect(received).toEqual([]);
  });

  it("waits out a 429's Retry-After before the same webhook-id comes again, then delivers it", async () => {
    const connection = await newConnection();
    const destination = await createDestination(connection.apiKey);
    answer = (n) =>
      n === 1
        ? new Response("slow down", { status: 429, headers: { "retry-after": "2" } })
        : new Response("ok");
    await webhookChange(connection, "ct_r1", 1);
    await until(() => received.length === 1, "the first attempt");
    const [first] = await attempts(connection.apiKey, destination.id);
    expect(first).toMatchObject({ status: "pending", responseStatus: 429, responseExcerpt: "slow down" });
    expect(
      Date.parse(first?.nextAttemptAt ?? "") - Date.parse(first?.attemptedAt ?? ""),
    ).toBeGreaterThanOrEqual(2000);
    // Not due yet: a run sends nothing.
    expect(await runCourier(connection, destination.id)).toBe(0);
    // The courier's alarm brings the same webhook-id again, no sooner than 2 s after.
    await until(() => received.length === 2, "the second attempt", 6000);
    expect(received[1]?.headers["webhook-id"]).toBe(received[0]?.headers["webhook-id"]);
    const log = await attempts(connection.apiKey, destination.id);
    expect(log[0]).toMatchObject({ status: "succeeded", attempt: 2 });
    expect(
      Date.parse(log[0]?.attemptedAt ?? "") - Date.parse(log[1]?.attemptedAt ?? ""),
    ).toBeGreaterThanOrEqual(2000);
  });

  it("counts a Retry-After from when the answer came, not from when the attempt began: a slow 429 still gets its full wait", async () => {
    const connection = await newConnection();
    const destination = await createDestination(connection.apiKey);
    // The receiver takes 1.5 s (on the courier's clock) to answer 429 with Retry-After: 10.
    let offset = 0;
    courierRuntime.now = () => Date.now() + offset;
    answer = () => {
      offset += 1500;
      return new Response("slow down", { status: 429, headers: { "retry-after": "10" } });
    };
    await webhookChange(connection, "ct_r2", 1);
    await until(async () => (await attempts(connection.apiKey, destination.id)).length === 1, "the attempt");
    const [first] = await attempts(connection.apiKey, destination.id);
    expect(first).toMatchObject({ status: "pending", responseStatus: 429 });
    // RFC 9110 10.2.3: delay-seconds is "the number of seconds to delay after the response is received".
    expect(
      Date.parse(first?.nextAttemptAt ?? "") - Date.parse(first?.attemptedAt ?? ""),
    ).toBeGreaterThanOrEqual(1500 + 10_000);
    // Its alarm, 10 s away, would send to a later test's receiver.
    expect(
      (await api(`/api/v1/destinations/${destination.id}`, { key: connection.apiKey, method: "DELETE" }))
        .status,
    ).toBe(204);
  });

  it("a 410 disables the destination at once and ends its pending deliveries as failed; re-enabled and recovered, each is delivered once", async () => {
    const connection = await newConnection();
    const destination = await createDestination(connection.apiKey);
    answer = () => new Response("gone", { status: 410 });
    await webhookChange(connection, "ct_g1", 1);
    await until(() => received.length >= 1, "the attempt");
    await webhookChange(connection, "ct_g2", 1);
    const read = await (
      await api(`/api/v1/destinations/${destination.id}`, { key: connection.apiKey })
    ).json<Destination>();
    expect(read).toMatchObject({ status: "disabled" });
    expect(read.disabledReason).toContain("410");
    expect(await runCourier(connection, destination.id)).toBe(0);
    expect(received).toHaveLength(1);

    answer = () => new Response("ok");
    received = [];
    await api(`/api/v1/destinations/${destination.id}`, {
      key: connection.apiKey,
      method: "PATCH",
      body: { status: "enabled" },
    });
    const recovered = await api(`/api/v1/destinations/${destination.id}/recover`, {
      key: connection.apiKey,
      method: "POST",
      body: { since: new Date(Date.now() - 60_000).toISOString() },
    });
    expect(recovered.status).toBe(202);
    expect(await recovered.json()).toEqual({ pending: 2 });
    await until(() => received.length === 2, "the recovered deliveries");
    const ids = received.map(
      (r) => (JSON.parse(r.body) as { data: { contact: { id: string } } }).data.contact.id,
    );
    expect(ids.toSorted()).toEqual(["ct_g1", "ct_g2"]);
    // Recovering again sends nothing more: everything since then succeeded.
    const again = await api(`/api/v1/destinations/${destination.id}/recover`, {
      key: connection.apiKey,
      method: "POST",
      body: { since: new Date(Date.now() - 60_000).toISOString() },
    });
    expect(await again.json()).toEqual({ pending: 0 });
  });

  it("retries a 500 with backoff for at least 24 hours, then the delivery is failed; the retry route sends it again", async () => {
    const connection = await newConnection();
    const destination = await createDestination(connection.apiKey);
    answer = () => new Response("boom", { status: 500 });
    await webhookChange(connection, "ct_e1", 1);
    await until(() => received.length === 1, "the first attempt");
    // Each next attempt at the time it falls due, in injected time (the alarm is then a day away).
    let clock = Date.now();
    courierRuntime.now = () => clock;
    for (let i = 0; i < 80; i++) {
      const [last] = await attempts(connection.apiKey, destination.id);
      if (last?.status === "failed") break;
      clock = Date.parse(last?.nextAttemptAt ?? "") + 1;
      await runCourier(connection, destination.id);
    }
    const log = await attempts(connection.apiKey, destination.id);
    expect(log[0]).toMatchObject({ status: "failed", responseStatus: 500 });
    const span = Date.parse(log[0]?.attemptedAt ?? "") - Date.parse(log[log.length - 1]?.attemptedAt ?? "");
    expect(span).toBeGreaterThanOrEqual(24 * 3_600_000);
    expect(await attempts(connection.apiKey, destination.id, "&status=failed")).toHaveLength(1);

    answer = () => new Response("ok");
    const count = received.length;
    const retried = await api(
      `/api/v1/destinations/${destination.id}/deliveries/${log[0]?.deliveryId}/retry`,
      {
        key: connection.apiKey,
        method: "POST",
      },
    );
    expect(retried.status).toBe(202);
    await runCourier(connection, destination.id);
    await until(() => received.length === count + 1, "the retried delivery");
    expect((await attempts(connection.apiKey, destination.id))[0]).toMatchObject({ status: "succeeded" });
    await expectProblem(
      await api(`/api/v1/destinations/${destination.id}/deliveries/dlv_nope/retry`, {
        key: connection.apiKey,
        method: "POST",
      }),
      404,
      "not_found",
    );
  });

  it("after a rotation each delivery carries two signatures for 24 hours: either secret verifies it alone", async () => {
    const connection = await newConnection();
    const destination = await createDestination(connection.apiKey);
    const rotated = await (
      await api(`/api/v1/destinations/${destination.id}/rotate-secret`, {
        key: connection.apiKey,
        method: "POST",
      })
    ).json<Destination>();
    expect(rotated.secret).not.toBe(destination.secret);
    await webhookChange(connection, "ct_s1", 1);
    await until(() => received.length === 1, "the delivery");
    const request = received[0] as Received;
    expect(request.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    for (const secret of [destination.secret, rotated.secret]) {
      expect(() => new Webhook(secret as string).verify(request.body, request.headers)).not.toThrow();
    }
    expect(() =>
      new Webhook(`whsec_${btoa("x".repeat(32))}`).verify(request.body, request.headers),
    ).toThrow();
  });

  it("a receiver that takes 9 s to answer holds up only its own destination: the other's courier delivers meanwhile", async () => {
    const connection = await newConnection();
    const slow = await createDestination(connection.apiKey, { url: "https://slow.acme-bridge.dev/in" });
    await createDestination(connection.apiKey, { url: "https://fast.acme-bridge.dev/in" });
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    answer = async (_, request) => {
      if (request.url.startsWith("https://slow.")) await held;
      return new Response("ok");
    };
    const began = Date.now();
    await webhookChange(connection, "ct_w1", 1);
    await until(() => received.some((r) => r.url.startsWith("https://fast.")), "the fast delivery", 2000);
    expect(Date.now() - began).toBeLessThan(2000);
    expect((await attempts(connection.apiKey, slow.id)).length).toBe(0);
    release();
    await until(async () => (await attempts(connection.apiKey, slow.id)).length === 1, "the slow delivery");
  });
});

describe("destinations: found by a first-hour user", () => {
  it("recovered while disabled, deliveries go as soon as the destination is enabled again", async () => {
    const connection = await newConnection();
    const destination = await createDestination(connection.apiKey);
    await api(`/api/v1/destinations/${destination.id}`, {
      key: connection.apiKey,
      method: "PATCH",
      body: { status: "disabled" },
    });
    await webhookChange(connection, "ct_late1", 1);
    const recovered = await api(`/api/v1/destinations/${destination.id}/recover`, {
      key: connection.apiKey,
      method: "POST",
      body: { since: new Date(Date.now() - 60_000).toISOString() },
    });
    expect(await recovered.json()).toEqual({ pending: 1 });
    expect(received).toEqual([]);
    await api(`/api/v1/destinations/${destination.id}`, {
      key: connection.apiKey,
      method: "PATCH",
      body: { status: "enabled" },
    });
    await until(() => received.length === 1, "the delivery after enabling", 5000);
  });

  it("declares the payload under the document's webhooks section as contact.changed", async () => {
    const doc = await (await api("/api/openapi.json")).json<{ webhooks?: Record<string, unknown> }>();
    expect(Object.keys(doc.webhooks ?? {})).toEqual(["contact.changed"]);
  });
});
