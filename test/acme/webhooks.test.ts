import {
  createExecutionContext,
  createMessageBatch,
  env,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { handleDeadDeliveries, handleDeliveryBatch } from "../../src/acme/webhooks/delivery-consumer.ts";
import { OUTBOX_FIRST_HAND_OFF_MS, sweepOutbox } from "../../src/acme/webhooks/outbox.ts";
import { createApp } from "../../src/app.ts";
import { chunk } from "../../src/lib/d1-limits.ts";
import { decodeWebhookSecret } from "../../src/lib/webhook-secret.ts";
import { webhookUrlProblem } from "../../src/lib/webhook-url-policy.ts";
import { ACME, acme, signedIn, uniqueEmail } from "./helpers.ts";
import {
  RECEIVER,
  receiver,
  recordingQueue,
  runBatch,
  storedEvent,
  storedEvents,
  subscribe,
} from "./webhook-helpers.ts";

/**
 * Fans one stored event out with a receiver that fails the first attempt, and returns the single
 * delivery id the consumer queued for a retry.
 */
async function fanOutOne(eventId: string, firstAnswer: number | "timeout" = 500): Promise<string> {
  const { sent, queue } = recordingQueue();
  const result = await runBatch([{ body: { kind: "fanout", eventId } }], {
    queue,
    fetch: receiver([firstAnswer]).fetch,
  });
  expect(result.explicitAcks).toHaveLength(1);
  expect(sent).toHaveLength(1);
  const message = sent[0];
  if (message?.kind !== "deliver") throw new Error("expected a deliver message");
  return message.deliveryId;
}

/** The redelivery delay the consumer chose, as recorded in the delivery log. */
async function secondsUntilNextAttempt(deliveryId: string): Promise<number> {
  const row = await env.ACME_DB.prepare("SELECT next_attempt_at FROM webhook_deliveries WHERE id = ?")
    .bind(deliveryId)
    .first<{ next_attempt_at: string }>();
  return (Date.parse(row?.next_attempt_at ?? "") - Date.now()) / 1000;
}

describe("webhook subscriptions API", () => {
  it("creates a subscription and shows its whsec_ secret only once", async () => {
    const { token } = await signedIn();
    const created = await subscribe(token, { description: "CRM sync" });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(created).toMatchObject({ url: RECEIVER, enabled: true });
    const read = await acme(`/v1/webhooks/${created.id}`, { token });
    const body = await read.json<Record<string, unknown>>();
    expect(body.secret).toBeUndefined();
    expect(body).toMatchObject({ id: created.id, description: "CRM sync" });
    const list = await acme("/v1/webhooks", { token });
    expect((await list.json<{ results: { id: string }[] }>()).results.map((s) => s.id)).toEqual([created.id]);
  });

  it("generates secrets that meet the Standard Webhooks rule the integration enforces (24-64 bytes)", async () => {
    const { token } = await signedIn();
    for (let i = 0; i < 3; i++) {
      const { secret } = await subscribe(token);
      const decoded = decodeWebhookSecret(secret);
      expect("key" in decoded && decoded.key.byteLength).toBe(32);
    }
  });

  it("stores the signing secret encrypted", async () => {
    const { token } = await signedIn();
    const created = await subscribe(token);
    const row = await env.ACME_DB.prepare("SELECT secret_enc FROM webhook_subscriptions WHERE id = ?")
      .bind(created.id)
      .first<{ secret_enc: string }>();
    expect(row?.secret_enc).toBeTruthy();
    expect(row?.secret_enc).not.toContain(created.secret.slice(6));
  });

  it("updates events and enabled, and deletes", async () => {
    const { token } = await signedIn();
    const created = await subscribe(token);
    const patched = await acme(`/v1/webhooks/${created.id}`, {
      token,
      method: "PATCH",
      body: { events: ["contact.deleted"], enabled: false },
    });
    expect(await patched.json()).toMatchObject({
      events: ["contact.deleted"],
      enabled: false,
      disabled_reason: expect.any(String),
    });
    expect((await acme(`/v1/webhooks/${created.id}`, { token, method: "DELETE" })).status).toBe(204);
    expect((await acme(`/v1/webhooks/${created.id}`, { token })).status).toBe(404);
  });

  it("keeps subscriptions per account and needs the webhooks.manage scope", async () => {
    const a = await signedIn();
    const b = await signedIn();
    const created = await subscribe(a.token);
    expect((await acme(`/v1/webhooks/${created.id}`, { token: b.token })).status).toBe(404);
    expect((await acme(`/v1/webhooks/${created.id}`, { token: b.token, method: "DELETE" })).status).toBe(404);
    const readOnly = await signedIn({ scopes: ["contacts.read", "contacts.write"] });
    const refused = await acme("/v1/webhooks", { token: readOnly.token });
    expect(refused.status).toBe(403);
  });

  it.each([
    ["http://receiver.example.com/hook", "https"],
    ["https://localhost/hook", "public host"],
    ["https://127.0.0.1/hook", "private"],
    ["https://10.1.2.3/hook", "private"],
    ["https://169.254.169.254/latest/meta-data", "private"],
    ["https://[::1]/hook", "private"],
    ["https://[fd00::1]/hook", "private"],
    ["https://service.internal/hook", "public host"],
    ["https://user:pw@receiver.example.com/hook", "credentials"],
    ["not a url", "absolute URL"],
  ])("refuses the subscription URL %s", async (url, reason) => {
    const { token } = await signedIn();
    const res = await acme("/v1/webhooks", {
      token,
      method: "POST",
      body: { url, events: ["contact.created"] },
    });
    expect(res.status).toBe(400);
    const body = await res.json<{ error: { code: string; message: string; details: { field: string }[] } }>();
    expect(body.error.code).toBe("validation_failed");
    expect(body.error.details[0]?.field).toBe("url");
    expect(body.error.message).toContain(reason);
  });

  it("allows http://localhost only where the deployment allows loopback (local dev)", async () => {
    const { token } = await signedIn();
    const devEnv = { ...env, ACME_WEBHOOK_ALLOW_LOOPBACK: "true" };
    const request = new Request(`${ACME}/v1/webhooks`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        url: "http://127.0.0.1:8787/webhooks/acme/conn_1",
        events: ["contact.created"],
      }),
    });
    const res = await createApp().fetch(request, devEnv, createExecutionContext());
    expect(res.status).toBe(201);
    expect(webhookUrlProblem("http://127.0.0.1:8787/x", { allowLoopback: false })).toBe("must use https");
    expect(webhookUrlProblem("http://10.0.0.1/x", { allowLoopback: true })).toBe("must use https");
  });

  it("rejects unknown fields and unknown event types", async () => {
    const { token } = await signedIn();
    const res = await acme("/v1/webhooks", {
      token,
      method: "POST",
      body: { url: RECEIVER, events: ["contact.merged"], secret: "mine" },
    });
    expect(res.status).toBe(400);
    const fields = (await res.json<{ error: { details: { field: string }[] } }>()).error.details.map(
      (d) => d.field,
    );
    expect(fields).toEqual(expect.arrayContaining(["events.0", "secret"]));
  });
});

describe("transactional outbox", () => {
  async function eventsFor(contactId: string) {
    const rows = await env.ACME_DB.prepare(
      "SELECT type, payload, enqueued_at FROM webhook_events WHERE contact_id = ? ORDER BY id",
    )
      .bind(contactId)
      .all<{ type: string; payload: string; enqueued_at: string | null }>();
    return rows.results;
  }

  /**
   * A write through the app: with an execution context whose `waitUntil` calls are counted (and
   * waited for before this returns), or with none.
   */
  async function write(
    token: string,
    path: string,
    method: string,
    body?: unknown,
    options: { withContext?: boolean } = {},
  ) {
    const request = new Request(`${ACME}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (options.withContext === false) return { res: await createApp().fetch(request, env), deferred: 0 };
    const ctx = createExecutionContext();
    let deferred = 0;
    const counting = Object.create(ctx, {
      waitUntil: {
        value: (work: Promise<unknown>) => {
          deferred += 1;
          ctx.waitUntil(work);
        },
      },
    }) as ExecutionContext;
    const res = await createApp().fetch(request, env, counting);
    await waitOnExecutionContext(ctx);
    return { res, deferred };
  }

  it("records one event per create, update and delete, with the previous state on changes", async () => {
    const { token } = await signedIn();
    const created = await (
      await write(token, "/v1/contacts", "POST", { acme_email: uniqueEmail(), acme_first_name: "Ada" })
    ).res.json<{ id: string }>();
    const patched = await write(token, `/v1/contacts/${created.id}`, "PATCH", { acme_title: "Countess" });
    expect(patched.res.status).toBe(200);
    expect((await write(token, `/v1/contacts/${created.id}`, "DELETE")).res.status).toBe(204);
    const events = await eventsFor(created.id);
    expect(events.map((e) => e.type)).toEqual(["contact.created", "contact.updated", "contact.deleted"]);
    const [create, update, remove] = events.map((e) => JSON.parse(e.payload));
    expect(create.previous).toBeUndefined();
    expect(create.data).toMatchObject({ id: created.id, acme_version: 1 });
    expect(update.previous).toMatchObject({ acme_title: null, acme_version: 1 });
    expect(update.data).toMatchObject({ acme_title: "Countess", acme_version: 2 });
    expect(remove.data.acme_deleted_at).toEqual(expect.any(String));
    expect(remove.previous.acme_deleted_at).toBeNull();
    expect(events.every((e) => e.enqueued_at !== null)).toBe(true);
  });

  it("hands a change's event to the queue after answering (waitUntil), or before answering without an execution context", async () => {
    const { token } = await signedIn();
    const answered = await write(token, "/v1/contacts", "POST", { acme_email: uniqueEmail() });
    expect(answered.res.status).toBe(201);
    expect(answered.deferred).toBe(1);
    const id = (await answered.res.json<{ id: string }>()).id;
    expect((await eventsFor(id)).map((e) => e.enqueued_at !== null)).toEqual([true]);

    // A job's write (a Workflow step) has no context: the hand-off is done when the answer comes.
    const awaited = await write(
      token,
      "/v1/contacts",
      "POST",
      { acme_email: uniqueEmail() },
      { withContext: false },
    );
    expect(awaited.res.status).toBe(201);
    const awaitedId = (await awaited.res.json<{ id: string }>()).id;
    expect((await eventsFor(awaitedId)).map((e) => e.enqueued_at !== null)).toEqual([true]);
  });

  it("records nothing for a refused or empty write", async () => {
    const { token } = await signedIn();
    const email = uniqueEmail();
    const created = await (
      await acme("/v1/contacts", { token, method: "POST", body: { acme_email: email } })
    ).json<{
      id: string;
    }>();
    expect((await acme("/v1/contacts", { token, method: "POST", body: { acme_email: email } })).status).toBe(
      409,
    );
    const stale = await acme(`/v1/contacts/${created.id}`, {
      token,
      method: "PATCH",
      body: { acme_title: "x" },
      headers: { "if-match": '"9"' },
    });
    expect(stale.status).toBe(412);
    expect((await acme(`/v1/contacts/${created.id}`, { token, method: "PATCH", body: {} })).status).toBe(200);
    expect((await eventsFor(created.id)).map((e) => e.type)).toEqual(["contact.created"]);
  });

  it("sweeps events that never reached the queue", async () => {
    const { client } = await signedIn();
    const event = await storedEvent(client.clientId);
    const { queue, fanouts } = recordingQueue();
    const later = new Date(Date.parse(event.createdAt) + OUTBOX_FIRST_HAND_OFF_MS + 1000);
    expect(await sweepOutbox(env, later, { queue, limit: 10_000 })).toBeGreaterThanOrEqual(1);
    expect(fanouts()).toContain(event.id);
    const row = await env.ACME_DB.prepare("SELECT enqueued_at FROM webhook_events WHERE id = ?")
      .bind(event.id)
      .first<{ enqueued_at: string | null }>();
    expect(row?.enqueued_at).not.toBeNull();
  });

  it("leaves fresh unsent events to the write path for a grace period", async () => {
    const { client } = await signedIn();
    const event = await storedEvent(client.clientId);
    const { queue, fanouts } = recordingQueue();
    const justBefore = new Date(Date.parse(event.createdAt) + OUTBOX_FIRST_HAND_OFF_MS - 1);
    await sweepOutbox(env, justBefore, { queue, limit: 10_000 });
    expect(fanouts()).not.toContain(event.id);
    const row = await env.ACME_DB.prepare("SELECT enqueued_at FROM webhook_events WHERE id = ?")
      .bind(event.id)
      .first<{ enqueued_at: string | null }>();
    expect(row?.enqueued_at).toBeNull();
  });
});

describe("delivery log", () => {
  it("pages 130 deliveries of one subscription, newest first, each with its attempts", async () => {
    const { client, token } = await signedIn();
    const subscription = await subscribe(token);
    const events = await storedEvents(client.clientId, 130);
    for (const run of chunk(events, 100)) {
      await runBatch(
        run.map((e) => ({ body: { kind: "fanout" as const, eventId: e.id } })),
        { fetch: receiver([]).fetch, queue: recordingQueue().queue },
      );
    }
    type Page = {
      results: { id: string; event_id: string; attempt_log: { status_code: number }[] }[];
      paging?: { next: { before: string } };
    };
    const first = await (
      await acme(`/v1/webhooks/${subscription.id}/deliveries?limit=100`, { token })
    ).json<Page>();
    expect(first.results).toHaveLength(100);
    expect(first.paging?.next.before).toBe(first.results[99]?.id);
    const second = await (
      await acme(`/v1/webhooks/${subscription.id}/deliveries?limit=100&before=${first.paging?.next.before}`, {
        token,
      })
    ).json<Page>();
    expect(second.results).toHaveLength(30);
    expect(second.paging).toBeUndefined();
    const all = [...first.results, ...second.results];
    expect(new Set(all.map((d) => d.event_id))).toEqual(new Set(events.map((e) => e.id)));
    expect(all.every((d) => d.attempt_log.length === 1 && d.attempt_log[0]?.status_code === 200)).toBe(true);
    const ids = all.map((d) => d.id);
    expect(ids).toEqual([...ids].sort().reverse());
  });
});

describe("webhook delivery consumer", () => {
  it("fans an event out to each enabled subscription that wants its type", async () => {
    const { client, token } = await signedIn();
    const wanted = await subscribe(token, { events: ["contact.created"] });
    await subscribe(token, { events: ["contact.deleted"] });
    const disabled = await subscribe(token, { events: ["contact.created"] });
    await acme(`/v1/webhooks/${disabled.id}`, { token, method: "PATCH", body: { enabled: false } });
    const event = await storedEvent(client.clientId);
    const { sent, queue } = recordingQueue();
    const { received, fetch } = receiver([200]);
    await runBatch([{ body: { kind: "fanout", eventId: event.id } }], { queue, fetch });
    await runBatch([{ body: { kind: "fanout", eventId: event.id } }], { queue, fetch });
    expect(received).toHaveLength(1);
    const deliveries = await env.ACME_DB.prepare(
      "SELECT subscription_id FROM webhook_deliveries WHERE event_id = ?",
    )
      .bind(event.id)
      .all<{ subscription_id: string }>();
    expect(deliveries.results.map((d) => d.subscription_id)).toEqual([wanted.id]);
    expect(sent).toEqual([]);
  });

  it("delivers a Standard Webhooks v1 request the subscriber can verify with its secret", async () => {
    const { client, token } = await signedIn();
    const subscription = await subscribe(token);
    const event = await storedEvent(client.clientId);
    const { received, fetch } = receiver([200]);
    const { sent, queue } = recordingQueue();
    const result = await runBatch([{ body: { kind: "fanout", eventId: event.id } }], { fetch, queue });
    expect(result.explicitAcks).toHaveLength(1);
    expect(sent).toEqual([]);
    const [request] = received;
    expect(request?.url).toBe(RECEIVER);
    expect(request?.body).toBe(event.payload);
    expect(request?.headers["webhook-id"]).toBe(event.id);
    expect(request?.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(
      new Webhook(subscription.secret).verify(request?.body ?? "", request?.headers ?? {}),
    ).toMatchObject({
      type: "contact.created",
    });
    expect(() =>
      new Webhook(`whsec_${btoa("another secret entirely!!")}`).verify(
        request?.body ?? "",
        request?.headers ?? {},
      ),
    ).toThrow();
  });

  it("delivers a contact's custom values in data and previous, signed like any other body", async () => {
    const { token } = await signedIn();
    const subscription = await subscribe(token, { events: ["contact.updated"] });
    const defined = await acme("/v1/properties", {
      token,
      method: "POST",
      body: { name: "tier", label: "Tier", type: "enumeration", options: ["silver", "gold"] },
    });
    expect(defined.status).toBe(201);
    const made = await (
      await acme("/v1/contacts", {
        token,
        method: "POST",
        body: { acme_email: uniqueEmail(), acme_custom: { tier: "silver" } },
      })
    ).json<{ id: string }>();
    const patched = await acme(`/v1/contacts/${made.id}`, {
      token,
      method: "PATCH",
      body: { acme_custom: { tier: "gold" } },
    });
    expect(patched.status).toBe(200);
    const event = await env.ACME_DB.prepare(
      "SELECT id FROM webhook_events WHERE contact_id = ? AND type = 'contact.updated'",
    )
      .bind(made.id)
      .first<{ id: string }>();
    const { received, fetch } = receiver([200]);
    await runBatch([{ body: { kind: "fanout", eventId: event?.id ?? "" } }], {
      fetch,
      queue: recordingQueue().queue,
    });
    expect(received).toHaveLength(1);
    const delivered = new Webhook(subscription.secret).verify(
      received[0]?.body ?? "",
      received[0]?.headers ?? {},
    ) as { type: string; data: { acme_custom: unknown }; previous: { acme_custom: unknown } };
    expect(delivered.type).toBe("contact.updated");
    expect(delivered.data.acme_custom).toEqual({ tier: "gold" });
    expect(delivered.previous.acme_custom).toEqual({ tier: "silver" });
  });

  it("sends nothing to a stored URL the policy now refuses, and marks the delivery failed", async () => {
    const { client, token } = await signedIn();
    const subscription = await subscribe(token);
    // A row written before the policy knew NAT64 forms (the example).
    await env.ACME_DB.prepare("UPDATE webhook_subscriptions SET url = ? WHERE id = ?")
      .bind("https://[64:ff9b::a9fe:a9fe]/latest/meta-data", subscription.id)
      .run();
    const event = await storedEvent(client.clientId);
    const { received, fetch } = receiver([200]);
    const { sent, queue } = recordingQueue();
    const result = await runBatch([{ body: { kind: "fanout", eventId: event.id } }], { fetch, queue });
    expect(result.explicitAcks).toHaveLength(1);
    expect(received).toEqual([]);
    expect(sent).toEqual([]);
    const log = await acme(`/v1/webhooks/${subscription.id}/deliveries`, { token });
    const [delivery] = (await log.json<{ results: { status: string; last_error: string }[] }>()).results;
    expect(delivery).toMatchObject({
      status: "failed",
      last_error: expect.stringContaining("URL not allowed"),
    });
  });

  it("retries a failed delivery with backoff and the same webhook-id, then succeeds", async () => {
    const { client, token } = await signedIn();
    const subscription = await subscribe(token);
    const event = await storedEvent(client.clientId);
    const deliveryId = await fanOutOne(event.id);
    const { received, fetch } = receiver([500, 200]);
    const first = await runBatch([{ body: { kind: "deliver", deliveryId }, attempts: 1 }], {
      fetch,
      random: () => 0.5,
    });
    expect(first.retryMessages).toHaveLength(1);
    expect(await secondsUntilNextAttempt(deliveryId)).toBeGreaterThanOrEqual(1);
    const second = await runBatch([{ body: { kind: "deliver", deliveryId }, attempts: 2 }], { fetch });
    expect(second.explicitAcks).toHaveLength(1);
    expect(received.map((r) => r.headers["webhook-id"])).toEqual([event.id, event.id]);

    const log = await acme(`/v1/webhooks/${subscription.id}/deliveries`, { token });
    const [delivery] = (
      await log.json<{
        results: { id: string; status: string; attempts: number; attempt_log: { status_code: number }[] }[];
      }>()
    ).results;
    expect(delivery).toMatchObject({ id: deliveryId, status: "succeeded", attempts: 3 });
    expect(delivery?.attempt_log.map((a) => a.status_code)).toEqual([500, 500, 200]);
  });

  it("queues the retry of a failed first attempt with its delay, at least the receiver's Retry-After", async () => {
    const { client, token } = await signedIn();
    await subscribe(token);
    const event = await storedEvent(client.clientId);
    const { sent, delays, queue } = recordingQueue();
    await runBatch([{ body: { kind: "fanout", eventId: event.id } }], {
      queue,
      fetch: receiver([503], { "retry-after": "120" }).fetch,
      random: () => 0,
    });
    expect(sent).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual(120);
  });

  it("waits at least as long as the receiver's Retry-After", async () => {
    const { client, token } = await signedIn();
    await subscribe(token);
    const deliveryId = await fanOutOne((await storedEvent(client.clientId)).id);
    const { fetch } = receiver([503], { "retry-after": "120" });
    const result = await runBatch([{ body: { kind: "deliver", deliveryId } }], { fetch, random: () => 0 });
    expect(result.retryMessages).toHaveLength(1);
    expect(await secondsUntilNextAttempt(deliveryId)).toBeGreaterThanOrEqual(119);
  });

  it("retries a delivery that timed out", async () => {
    const { client, token } = await signedIn();
    await subscribe(token);
    const deliveryId = await fanOutOne((await storedEvent(client.clientId)).id);
    const result = await runBatch([{ body: { kind: "deliver", deliveryId } }], {
      fetch: receiver(["timeout"]).fetch,
    });
    expect(result.retryMessages).toHaveLength(1);
    const row = await env.ACME_DB.prepare("SELECT status, last_error FROM webhook_deliveries WHERE id = ?")
      .bind(deliveryId)
      .first();
    expect(row).toMatchObject({ status: "retrying", last_error: "timed out" });
  });

  it("disables the subscription when the receiver answers 410 Gone", async () => {
    const { client, token } = await signedIn();
    const subscription = await subscribe(token);
    const deliveryId = await fanOutOne((await storedEvent(client.clientId)).id);
    const result = await runBatch([{ body: { kind: "deliver", deliveryId } }], {
      fetch: receiver([410]).fetch,
    });
    expect(result.explicitAcks).toHaveLength(1);
    const read = await (await acme(`/v1/webhooks/${subscription.id}`, { token })).json();
    expect(read).toMatchObject({ enabled: false, disabled_reason: "the endpoint answered 410 Gone" });
  });

  it("marks exhausted deliveries dead, and a manual retry queues them again", async () => {
    const { client, token } = await signedIn();
    const subscription = await subscribe(token);
    const deliveryId = await fanOutOne((await storedEvent(client.clientId)).id);
    const batch = createMessageBatch<unknown>("acme-webhook-deliveries-dlq", [
      { id: "dead-1", timestamp: new Date(), attempts: 9, body: { kind: "deliver", deliveryId } },
    ]);
    await handleDeadDeliveries(batch, env);
    const dead = await env.ACME_DB.prepare("SELECT status FROM webhook_deliveries WHERE id = ?")
      .bind(deliveryId)
      .first();
    expect(dead).toMatchObject({ status: "dead" });

    const retried = await acme(`/v1/webhooks/${subscription.id}/deliveries/${deliveryId}/retry`, {
      token,
      method: "POST",
    });
    expect(retried.status).toBe(202);
    const other = await signedIn();
    const foreign = await acme(`/v1/webhooks/${subscription.id}/deliveries/${deliveryId}/retry`, {
      token: other.token,
      method: "POST",
    });
    expect(foreign.status).toBe(404);
  });

  it("drops a message it cannot read instead of retrying it forever", async () => {
    const batch = createMessageBatch<unknown>("acme-webhook-deliveries", [
      { id: "junk", timestamp: new Date(), attempts: 1, body: { kind: "mystery" } },
    ]);
    const ctx = createExecutionContext();
    await handleDeliveryBatch(batch, env, { queue: recordingQueue().queue });
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["junk"]);
  });

  it("queues retries on Acme's schedule: 1 s after a first failure with the lowest draw, 2 s with the highest", async () => {
    const { client, token } = await signedIn();
    await subscribe(token);
    const delaysWith = async (draw: number) => {
      const { delays, queue } = recordingQueue();
      const event = await storedEvent(client.clientId);
      await runBatch([{ body: { kind: "fanout", eventId: event.id } }], {
        queue,
        fetch: receiver([500]).fetch,
        random: () => draw,
      });
      return delays;
    };
    expect(await delaysWith(0)).toEqual([1]);
    expect(await delaysWith(0.999)).toEqual([2]);
  });

  it("caps a Retry-After beyond the longest delay a queue takes at 12 hours", async () => {
    const { client, token } = await signedIn();
    await subscribe(token);
    const { delays, queue } = recordingQueue();
    await runBatch([{ body: { kind: "fanout", eventId: (await storedEvent(client.clientId)).id } }], {
      queue,
      fetch: receiver([429], { "retry-after": "100000" }).fetch,
      random: () => 0,
    });
    expect(delays).toEqual([43_200]);
  });

  it("ignores a Retry-After on an answer other than 429 or 503", async () => {
    const { client, token } = await signedIn();
    await subscribe(token);
    const { delays, queue } = recordingQueue();
    await runBatch([{ body: { kind: "fanout", eventId: (await storedEvent(client.clientId)).id } }], {
      queue,
      fetch: receiver([500], { "retry-after": "120" }).fetch,
      random: () => 0,
    });
    expect(delays).toEqual([1]);
  });
});
