import { createExecutionContext, createMessageBatch, env, getQueueResult, SELF } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { loadIntegrationConfig } from "../../src/integration/config.ts";
import { ContactCache } from "../../src/integration/contacts/contact-cache.ts";
import type { InboxMessage } from "../../src/integration/webhooks/acme-event.ts";
import { handleInboxDeadLetters } from "../../src/integration/webhooks/inbox-consumer.ts";
import { dataOf, sqlIn } from "./connection-data-helpers.ts";
import {
  admin,
  api,
  BASE,
  type Contact,
  errorFields,
  expectProblem,
  newConnection,
  problem,
} from "./helpers.ts";
import {
  acmeContact,
  consume,
  eventBody,
  expectFeedOrder,
  feed,
  inboxMessage,
  seededRandom,
  wholeFeed,
} from "./inbox-helpers.ts";

function newSecret(): string {
  return `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
}

async function connectionWithSecret() {
  const connection = await newConnection();
  const secret = newSecret();
  const res = await admin(`/connections/${connection.connectionId}/webhook-secret`, {
    method: "PUT",
    body: { secret },
  });
  expect(res.status).toBe(204);
  return { ...connection, secret };
}

function signedHeaders(secret: string, id: string, body: string, at = new Date()) {
  return {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(id, at, body),
  };
}

/** Posts to the receiver through the app with a recording inbox queue, so "nothing enqueued" is observable. */
async function receive(connectionId: string, body: string, headers: Record<string, string>) {
  const sent: InboxMessage[] = [];
  const recordingEnv = {
    ...env,
    INBOX_QUEUE: {
      send: async (message: InboxMessage) => {
        sent.push(message);
      },
    } as unknown as Queue,
  };
  const res = await createApp().fetch(
    new Request(`${BASE}/webhooks/acme/${connectionId}`, { method: "POST", headers, body }),
    recordingEnv,
    createExecutionContext(),
  );
  return { res, sent };
}

describe("POST /webhooks/acme/{connectionId}", () => {
  it("accepts a correctly signed webhook and queues it with its body untouched", async () => {
    const { connectionId, secret } = await connectionWithSecret();
    const body = eventBody("contact.created", acmeContact("ct_a", 1));
    const { res, sent } = await receive(connectionId, body, signedHeaders(secret, "msg_1", body));
    expect(res.status).toBe(202);
    expect(sent).toEqual([expect.objectContaining({ connectionId, webhookId: "msg_1", body })]);
  });

  it("accepts a timestamp 299 s old and one 299 s ahead", async () => {
    const { connectionId, secret } = await connectionWithSecret();
    const body = eventBody("contact.created", acmeContact("ct_b", 1));
    for (const offset of [-299, 299]) {
      const at = new Date(Date.now() + offset * 1000);
      const { res, sent } = await receive(
        connectionId,
        body,
        signedHeaders(secret, `msg_${offset}`, body, at),
      );
      expect(res.status).toBe(202);
      expect(sent).toHaveLength(1);
    }
  });

  it("accepts a header carrying two signatures (old and new secret) during key rotation", async () => {
    const { connectionId, secret } = await connectionWithSecret();
    const old = newSecret();
    const body = eventBody("contact.created", acmeContact("ct_c", 1));
    const at = new Date();
    const headers = signedHeaders(secret, "msg_rot", body, at);
    const both = `${new Webhook(old).sign("msg_rot", at, body)} ${headers["webhook-signature"]}`;
    const { res } = await receive(connectionId, body, { ...headers, "webhook-signature": both });
    expect(res.status).toBe(202);
    const onlyOld = new Webhook(old).sign("msg_rot", at, body);
    const { res: refused } = await receive(connectionId, body, { ...headers, "webhook-signature": onlyOld });
    expect(refused.status).toBe(401);
  });

  it.each([
    [
      "a tampered body",
      (h: Record<string, string>, body: string) => ({ headers: h, body: body.replace("First", "Forged") }),
    ],
    [
      "a wrong secret",
      (h: Record<string, string>, body: string) => ({
        headers: {
          ...h,
          "webhook-signature": new Webhook(newSecret()).sign(
            h["webhook-id"] ?? "",
            new Date(Number(h["webhook-timestamp"]) * 1000),
            body,
          ),
        },
        body,
      }),
    ],
    [
      "a timestamp 301 s old",
      (_h: Record<string, string>, body: string, secret: string) => ({
        headers: signedHeaders(secret, "msg_old", body, new Date(Date.now() - 301_000)),
        body,
      }),
    ],
    [
      // Checked when the request is verified, later than it was signed: 10 s past the window, so
      // a machine slow to get there cannot bring it back inside.
      "a timestamp 310 s ahead",
      (_h: Record<string, string>, body: string, secret: string) => ({
        headers: signedHeaders(secret, "msg_new", body, new Date(Date.now() + 310_000)),
        body,
      }),
    ],
    [
      "no webhook-signature",
      (h: Record<string, string>, body: string) => ({ headers: { ...h, "webhook-signature": "" }, body }),
    ],
    [
      "no webhook-id",
      (h: Record<string, string>, body: string) => ({ headers: { ...h, "webhook-id": "" }, body }),
    ],
    [
      "no webhook-timestamp",
      (h: Record<string, string>, body: string) => ({ headers: { ...h, "webhook-timestamp": "" }, body }),
    ],
    [
      "a changed webhook-id",
      (h: Record<string, string>, body: string) => ({ headers: { ...h, "webhook-id": "msg_other" }, body }),
    ],
  ])("rejects %s with 401 and queues nothing", async (_name, mutate) => {
    const { connectionId, secret } = await connectionWithSecret();
    const body = eventBody("contact.created", acmeContact("ct_d", 1));
    const variant = mutate(signedHeaders(secret, "msg_x", body), body, secret);
    const { res, sent } = await receive(connectionId, variant.body, variant.headers);
    expect(res.status).toBe(401);
    expect((await problem(res)).code).toBe("invalid_signature");
    expect(sent).toEqual([]);
  });

  it("rejects an unknown connection, and one without a webhook secret, with 401", async () => {
    const { secret } = await connectionWithSecret();
    const body = eventBody("contact.created", acmeContact("ct_e", 1));
    const unknown = await receive("conn_unknown", body, signedHeaders(secret, "msg_u", body));
    expect(unknown.res.status).toBe(401);
    expect(unknown.sent).toEqual([]);
    const bare = await newConnection();
    const none = await receive(bare.connectionId, body, signedHeaders(secret, "msg_n", body));
    expect(none.res.status).toBe(401);
    expect(none.sent).toEqual([]);
  });
});

describe("inbox consumer", () => {
  it("applies a change to the mirror and the feed, with a diff in API field names, and drops the cached copy", async () => {
    const { connectionId, apiKey } = await newConnection();
    const config = loadIntegrationConfig(env);
    // As the read path writes it: noted in the connection's object first.
    const cache = new ContactCache(env.CACHE, connectionId, config.cacheTtlSeconds, {
      beforeWrite: (contact, until) => dataOf(connectionId).noteCached(contact.id, contact.version, until),
    });
    const v1 = acmeContact("ct_f", 1);
    const v2 = acmeContact("ct_f", 2, { acme_title: "Engineer" });
    const stored = await cache.store({
      id: "ct_f",
      firstName: "stale",
      lastName: null,
      email: "x@example.com",
      phone: null,
      company: null,
      title: null,
      notes: null,
      version: 0,
      createdAt: "",
      updatedAt: "",
    });
    expect(stored).toBe("written");
    const result = await consume([
      { body: inboxMessage(connectionId, "msg_f1", eventBody("contact.created", v1)) },
      { body: inboxMessage(connectionId, "msg_f2", eventBody("contact.updated", v2, v1)) },
    ]);
    expect(result.explicitAcks).toHaveLength(2);
    expect(await cache.get("ct_f")).toBeNull();
    const { data } = await feed(apiKey);
    expect(data.map((e) => [e.seq, e.id, e.type, e.source])).toEqual([
      [1, "msg_f1", "contact.created", "webhook"],
      [2, "msg_f2", "contact.updated", "webhook"],
    ]);
    expect(data[1]?.changes).toEqual({
      firstName: { from: "First v1", to: "First v2" },
      title: { from: null, to: "Engineer" },
    });
    expect(data[0]?.changes.email).toEqual({ from: null, to: "ct_f@example.com" });
    expect(Date.parse((data[0] as unknown as { recordedAt: string }).recordedAt)).toBeGreaterThan(
      Date.now() - 60_000,
    );
    const [mirror] = await sqlIn(
      connectionId,
      "SELECT version FROM contact_mirror WHERE contact_id = ?",
      "ct_f",
    );
    expect(mirror).toEqual({ version: 2 });
  });

  it("writes no KV tombstone for a contact never cached, and refuses to cache a copy older than the mirror", async () => {
    const { connectionId, apiKey } = await newConnection();
    const config = loadIntegrationConfig(env);
    const cache = new ContactCache(env.CACHE, connectionId, config.cacheTtlSeconds, {
      beforeWrite: (contact, until) => dataOf(connectionId).noteCached(contact.id, contact.version, until),
    });
    await consume([
      { body: inboxMessage(connectionId, "msg_u1", eventBody("contact.created", acmeContact("ct_u", 1))) },
      { body: inboxMessage(connectionId, "msg_u2", eventBody("contact.created", acmeContact("ct_w", 1))) },
    ]);
    expect(await env.CACHE.get(`contact-tombstone:${connectionId}:ct_u`)).toBeNull();
    // A read of version 1 that began before version 2 was applied is not cached after it.
    const { data: v1 } = await feed(apiKey);
    await consume([
      {
        body: inboxMessage(
          connectionId,
          "msg_u3",
          eventBody("contact.updated", acmeContact("ct_u", 2), acmeContact("ct_u", 1)),
        ),
      },
    ]);
    expect(await cache.store(v1[0]?.contact as Contact)).toBe("superseded");
    expect(await env.CACHE.get(`contact:${connectionId}:ct_u`)).toBeNull();
    // A copy that is current is cached and noted, so the next change drops it.
    const current = v1[1]?.contact as Contact;
    expect(await cache.store(current)).toBe("written");
    await consume([
      {
        body: inboxMessage(
          connectionId,
          "msg_w2",
          eventBody("contact.updated", acmeContact("ct_w", 2), acmeContact("ct_w", 1)),
        ),
      },
    ]);
    expect(await env.CACHE.get(`contact-tombstone:${connectionId}:ct_w`)).not.toBeNull();
    expect(await cache.get("ct_w")).toBeNull();
  });

  it("treats a redelivered webhook-id as a no-op", async () => {
    const { connectionId, apiKey } = await newConnection();
    const message = inboxMessage(
      connectionId,
      "msg_dup",
      eventBody("contact.created", acmeContact("ct_g", 1)),
    );
    await consume([{ body: message }]);
    const again = await consume([{ body: message }, { body: message }]);
    expect(again.explicitAcks).toHaveLength(2);
    expect((await feed(apiKey)).data).toHaveLength(1);
  });

  it("converges on the highest version when deliveries arrive out of order, and the feed never goes back", async () => {
    const { connectionId, apiKey } = await newConnection();
    for (const version of [3, 1, 2]) {
      const type = version === 1 ? "contact.created" : "contact.updated";
      await consume([
        {
          body: inboxMessage(connectionId, `msg_h${version}`, eventBody(type, acmeContact("ct_h", version))),
        },
      ]);
    }
    const [mirror] = await sqlIn<{ version: number; data: string }>(
      connectionId,
      "SELECT version, data FROM contact_mirror WHERE contact_id = ?",
      "ct_h",
    );
    expect(mirror?.version).toBe(3);
    expect(JSON.parse(mirror?.data ?? "{}").firstName).toBe("First v3");
    expect((await feed(apiKey)).data.map((e) => e.contact.version)).toEqual([3]);
  });

  it("sends a poison message to the dead letters at once and keeps it replayable", async () => {
    const { connectionId } = await newConnection();
    const poison = inboxMessage(
      connectionId,
      "msg_poison",
      JSON.stringify({ type: "contact.exploded", data: {} }),
    );
    const result = await consume([{ body: poison }, { body: { not: "an inbox message" } }]);
    expect(result.explicitAcks).toHaveLength(2);
    const list = await admin("/dead-letters?limit=100");
    const letters = (await list.json<{ data: { id: string; webhookId: string | null; reason: string }[] }>())
      .data;
    const stored = letters.find((l) => l.webhookId === "msg_poison");
    expect(stored?.reason).toMatch(/^invalid event/);
    const replay = await admin(`/dead-letters/${stored?.id}/replay`, { method: "POST" });
    expect(replay.status).toBe(202);
    expect(await replay.json()).toMatchObject({ replayedAt: expect.any(String) });
    const unreadable = letters.find((l) => l.reason === "unreadable inbox message");
    expect((await admin(`/dead-letters/${unreadable?.id}/replay`, { method: "POST" })).status).toBe(409);
    expect((await admin("/dead-letters/dl_nope/replay", { method: "POST" })).status).toBe(404);
  });

  it("stores messages whose retries ran out (dead-letter queue consumer)", async () => {
    const { connectionId } = await newConnection();
    const message = inboxMessage(
      connectionId,
      "msg_exhausted",
      eventBody("contact.created", acmeContact("ct_i", 1)),
    );
    const batch = createMessageBatch<unknown>("integration-inbox-dlq", [
      { id: "dlq-1", timestamp: new Date(), attempts: 7, body: message },
    ]);
    const ctx = createExecutionContext();
    await handleInboxDeadLetters(batch, env);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["dlq-1"]);
    const row = await env.DB.prepare("SELECT reason FROM dead_letters WHERE webhook_id = ?")
      .bind("msg_exhausted")
      .first();
    expect(row).toEqual({ reason: "retries exhausted after 7 attempts" });
  });

  it("needs the admin token for dead letters", async () => {
    const { apiKey } = await newConnection();
    const res = await SELF.fetch(`${BASE}/api/v1/admin/dead-letters`, {
      headers: { authorization: `Bearer ${apiKey}` },
    });
    expect(res.status).toBe(401);
  });

  it("holds 1,000 events at most once each, rising per contact to the highest version, despite 20% failing attempts and every event delivered twice", async () => {
    const { connectionId, apiKey } = await newConnection();
    // Seeded randomness: the same run every time, and a different interleaving than delivery order.
    const random = seededRandom(20261122);
    const contacts = 100;
    const versions = 10;
    const messages: { body: unknown; attempts: number; id: string }[] = [];
    for (let c = 0; c < contacts; c++) {
      for (let v = 1; v <= versions; v++) {
        const id = `ct_bulk${String(c).padStart(3, "0")}`;
        const body = eventBody(v === 1 ? "contact.created" : "contact.updated", acmeContact(id, v));
        const message = inboxMessage(connectionId, `msg_${c}_${v}`, body);
        messages.push(
          { body: message, attempts: 1, id: `a-${c}-${v}` },
          { body: message, attempts: 1, id: `b-${c}-${v}` },
        );
      }
    }
    const poison = [0, 1, 2].map((i) => ({
      body: inboxMessage(connectionId, `msg_poison_${i}`, "{not json"),
      attempts: 1,
      id: `poison-${i}`,
    }));
    const queue = [...messages, ...poison].sort(() => random() - 0.5);
    const flakyEnv: Env = {
      ...env,
      DB: new Proxy(env.DB, {
        get(target, prop, receiver) {
          if (prop === "batch") {
            return (statements: D1PreparedStatement[]) => {
              if (random() < 0.2) return Promise.reject(new Error("injected D1 failure"));
              return target.batch(statements);
            };
          }
          const value = Reflect.get(target, prop, receiver);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }),
    };
    const MAX_RETRIES = 6;
    let deadLettered = 0;
    while (queue.length > 0) {
      const batch = queue.splice(0, 25);
      const result = await consume(batch, flakyEnv);
      const retried = new Set(result.retryMessages.map((m) => m.msgId));
      for (const message of batch) {
        if (!retried.has(message.id)) continue;
        if (message.attempts >= MAX_RETRIES + 1) {
          deadLettered += 1;
          continue;
        }
        queue.push({ ...message, attempts: message.attempts + 1 });
      }
    }
    expect(deadLettered).toBe(0);

    // Shuffled delivery: a version that arrives after a newer one of its contact is not appended,
    // so the feed holds each contact's versions once, in rising order, ending at the newest.
    const all = await wholeFeed(apiKey);
    expect(new Set(all.map((e) => e.id)).size).toBe(all.length);
    for (const e of all) {
      expect(e.id).toBe(`msg_${Number(e.contact.id.slice("ct_bulk".length))}_${e.contact.version}`);
    }
    expectFeedOrder(all, contacts, versions);
    expect(all.length).toBeLessThan(contacts * versions);
    const mirror = await sqlIn<{ contact_id: string; version: number }>(
      connectionId,
      "SELECT contact_id, version FROM contact_mirror",
    );
    expect(mirror).toHaveLength(contacts);
    expect(mirror.every((row) => row.version === versions)).toBe(true);
    const letters = await env.DB.prepare(
      "SELECT webhook_id FROM dead_letters WHERE connection_id = ? ORDER BY webhook_id",
    )
      .bind(connectionId)
      .all<{ webhook_id: string }>();
    expect(letters.results.map((l) => l.webhook_id)).toEqual([
      "msg_poison_0",
      "msg_poison_1",
      "msg_poison_2",
    ]);
  }, 120_000);
});

describe("GET /api/v1/events", () => {
  it("pages with after and limit without gaps or repeats, and only for the key's connection", async () => {
    const a = await newConnection();
    const b = await newConnection();
    await consume(
      Array.from({ length: 7 }, (_, i) => ({
        body: inboxMessage(
          a.connectionId,
          `msg_p${i}`,
          eventBody("contact.created", acmeContact(`ct_p${i}`, 1)),
        ),
      })),
    );
    const first = await feed(a.apiKey, 0, 3);
    const second = await feed(a.apiKey, first.nextAfter, 3);
    const third = await feed(a.apiKey, second.nextAfter, 3);
    const empty = await feed(a.apiKey, third.nextAfter, 3);
    expect([...first.data, ...second.data, ...third.data].map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(empty).toEqual({ data: [], nextAfter: 7 });
    expect((await feed(b.apiKey)).data).toEqual([]);
  });

  it("rejects a bad cursor or limit and a missing API key", async () => {
    const { apiKey } = await newConnection();
    for (const query of ["after=-1", "after=abc", "limit=0", "limit=501", "since=3"]) {
      const res = await api(`/api/v1/events?${query}`, { key: apiKey });
      expect(res.status).toBe(400);
    }
    expect((await api("/api/v1/events")).status).toBe(401);
  });

  it("refuses an empty after like a word, naming after: absent means 0, empty is no number", async () => {
    const { apiKey } = await newConnection();
    for (const query of ["after=", "after=abc", "after=1e1", "after=%205", "after=-1"]) {
      const body = await expectProblem(
        await api(`/api/v1/events?${query}`, { key: apiKey }),
        400,
        "validation_failed",
      );
      expect(errorFields(body), query).toEqual(["after"]);
    }
    for (const query of ["", "after=0", "after=007"]) {
      expect((await api(`/api/v1/events?${query}`, { key: apiKey })).status, query).toBe(200);
    }
    const doc = await (await api("/api/openapi.json")).json<{
      paths: Record<string, { get: { parameters: { name: string; schema: unknown }[] } }>;
    }>();
    const after = doc.paths["/api/v1/events"]?.get.parameters.find((p) => p.name === "after");
    expect(after?.schema).toMatchObject({ type: "integer", minimum: 0, default: 0 });
  });
});
