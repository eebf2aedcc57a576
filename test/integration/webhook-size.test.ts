import { createExecutionContext, env } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { loadIntegrationConfig } from "../../src/integration/config.ts";
import type { InboxMessage } from "../../src/integration/webhooks/acme-event.ts";
import {
  QUEUE_MAX_BODY_BYTES,
  QUEUE_MAX_MESSAGE_BYTES,
  queueMessageBytes,
} from "../../src/lib/queue-limits.ts";
import { checkingFetch } from "../contract/check-responses.ts";
import { admin, BASE, expectProblem, newConnection } from "./helpers.ts";
import { acmeContact, eventBody } from "./inbox-helpers.ts";

// The receiver queues each verified webhook as an inbox message (InboxMessageSchema): its body with
// the connection id, the webhook id and the receipt time. A queue message holds 128 KB less the
// queue's metadata; a webhook whose message would not fit must be refused, or it fails on every retry.

/**
 * The deployment as configured (API_MAX_BODY_BYTES at its 64 KiB default: the webhook route's limit
 * is the queue's, not the API's), with an inbox queue that records what is sent to it and, like
 * the real one, throws for a message over 128,000 bytes.
 */
function receiverEnv() {
  const sent: InboxMessage[] = [];
  const inbox = {
    send: async (message: InboxMessage) => {
      if (queueMessageBytes(message) > QUEUE_MAX_MESSAGE_BYTES)
        throw new Error("Queue send failed: too large");
      sent.push(message);
    },
  };
  return {
    sent,
    env: { ...env, INBOX_QUEUE: inbox as unknown as Queue },
  };
}

/** The app over `targetEnv`, every response checked against the OpenAPI document. */
function contractCheckedApp(targetEnv: Env) {
  return checkingFetch(
    async (input, init) => createApp().fetch(new Request(input, init), targetEnv, createExecutionContext()),
    () => true,
  );
}

async function connectionWithSecret() {
  const connection = await newConnection();
  const secret = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
  const res = await admin(`/connections/${connection.connectionId}/webhook-secret`, {
    method: "PUT",
    body: { secret },
  });
  expect(res.status).toBe(204);
  return { ...connection, secret };
}

function signed(secret: string, id: string, body: string) {
  const at = new Date();
  return {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(id, at, body),
  };
}

/** The bytes the inbox message for `body` takes on the queue. */
function inboxBytes(connectionId: string, webhookId: string, body: string): number {
  return queueMessageBytes({ connectionId, webhookId, body, receivedAt: new Date().toISOString() });
}

/**
 * A real Acme webhook body whose inbox message takes exactly `bytes`: its contact's notes padded
 * with `pad` (one character at a time, each adding its UTF-8 size).
 */
function webhookOfSize(connectionId: string, webhookId: string, bytes: number, pad = "x"): string {
  const bodyWith = (notes: string) =>
    eventBody("contact.updated", acmeContact("ct_big", 2, { acme_notes: notes }), acmeContact("ct_big", 1));
  const padBytes = new TextEncoder().encode(pad).byteLength;
  const missing = bytes - inboxBytes(connectionId, webhookId, bodyWith(""));
  const body = bodyWith(pad.repeat(Math.floor(missing / padBytes)) + "x".repeat(missing % padBytes));
  expect(inboxBytes(connectionId, webhookId, body)).toBe(bytes);
  return body;
}

describe("POST /webhooks/acme/{connectionId}: bodies that do not fit in a queue message", () => {
  it("queues a signed webhook whose inbox message takes exactly what a queue message holds", async () => {
    const { connectionId, secret } = await connectionWithSecret();
    const { sent, env: receiving } = receiverEnv();
    const body = webhookOfSize(connectionId, "msg_fits", QUEUE_MAX_BODY_BYTES);

    const res = await contractCheckedApp(receiving)(`${BASE}/webhooks/acme/${connectionId}`, {
      method: "POST",
      headers: signed(secret, "msg_fits", body),
      body,
    });

    expect(res.status).toBe(202);
    expect(sent).toHaveLength(1);
    expect(sent[0]?.body).toBe(body);
    expect(queueMessageBytes(sent[0])).toBeLessThanOrEqual(QUEUE_MAX_MESSAGE_BYTES - 100);
  });

  it("refuses a signed webhook one byte larger with 413 naming the limit, and queues nothing", async () => {
    const { connectionId, secret } = await connectionWithSecret();
    const { sent, env: receiving } = receiverEnv();
    const body = webhookOfSize(connectionId, "msg_over", QUEUE_MAX_BODY_BYTES + 1);

    const res = await contractCheckedApp(receiving)(`${BASE}/webhooks/acme/${connectionId}`, {
      method: "POST",
      headers: signed(secret, "msg_over", body),
      body,
    });

    const problem = await expectProblem(res, 413, "payload_too_large");
    expect(problem.detail).toContain(`${QUEUE_MAX_BODY_BYTES} bytes`);
    expect(sent).toEqual([]);
  });

  it("counts bytes, not characters: a body of two-byte characters within the limit in characters is refused", async () => {
    const { connectionId, secret } = await connectionWithSecret();
    const { sent, env: receiving } = receiverEnv();
    const body = webhookOfSize(connectionId, "msg_wide", QUEUE_MAX_BODY_BYTES + 2, "é");
    expect(body.length).toBeLessThan(QUEUE_MAX_BODY_BYTES / 1.5);

    const res = await contractCheckedApp(receiving)(`${BASE}/webhooks/acme/${connectionId}`, {
      method: "POST",
      headers: signed(secret, "msg_wide", body),
      body,
    });

    await expectProblem(res, 413, "payload_too_large");
    expect(sent).toEqual([]);
  });

  it("refuses a body too large before checking its signature or the connection (413 comes first, as on every route)", async () => {
    const { connectionId } = await connectionWithSecret();
    const { sent, env: receiving } = receiverEnv();
    const body = webhookOfSize(connectionId, "msg_unsigned", QUEUE_MAX_BODY_BYTES + 1000);
    const headers = { ...signed("whsec_d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldA==", "msg_unsigned", body) };
    const fetch = contractCheckedApp(receiving);

    const unsigned = await fetch(`${BASE}/webhooks/acme/${connectionId}`, { method: "POST", headers, body });
    await expectProblem(unsigned, 413, "payload_too_large");
    const stranger = await fetch(`${BASE}/webhooks/acme/conn_unknown`, { method: "POST", headers, body });
    await expectProblem(stranger, 413, "payload_too_large");
    // Within the limit, an unknown connection is refused before its signature is looked at.
    const small = webhookOfSize(connectionId, "msg_small", 1000);
    const strangerSmall = await fetch(`${BASE}/webhooks/acme/conn_unknown`, {
      method: "POST",
      headers: signed("whsec_d3Jvbmcgc2VjcmV0IHdyb25nIHNlY3JldA==", "msg_small", small),
      body: small,
    });
    await expectProblem(strangerSmall, 401, "invalid_signature");
    expect(sent).toEqual([]);
  });

  it("refuses a declared Content-Length too large without reading the body", async () => {
    const { connectionId, secret } = await connectionWithSecret();
    const { sent, env: receiving } = receiverEnv();
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    const chunks = Math.ceil(QUEUE_MAX_BODY_BYTES / chunk.byteLength) + 1;
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          controller.enqueue(chunk);
          if (++pulled === chunks) controller.close();
        },
      },
      { highWaterMark: 0 },
    );

    const res = await contractCheckedApp(receiving)(`${BASE}/webhooks/acme/${connectionId}`, {
      method: "POST",
      headers: {
        ...signed(secret, "msg_declared", "x"),
        "content-length": String(chunks * chunk.byteLength),
      },
      body,
    });

    const problem = await expectProblem(res, 413, "payload_too_large");
    // At most what the body guard reads ahead, never the body.
    expect(pulled).toBeLessThanOrEqual(2);
    expect(problem.detail).toContain(`${QUEUE_MAX_BODY_BYTES} bytes`);
    expect(sent).toEqual([]);
  });
});

describe("the webhook route's own limit", () => {
  it("queues a signed webhook larger than API_MAX_BODY_BYTES (a big contact with its previous version), which the API's own routes would refuse", async () => {
    const { connectionId, secret } = await connectionWithSecret();
    const { sent, env: receiving } = receiverEnv();
    const body = webhookOfSize(connectionId, "msg_large", 100_000);
    expect(new TextEncoder().encode(body).byteLength).toBeGreaterThan(
      loadIntegrationConfig(env).maxBodyBytes,
    );
    const res = await contractCheckedApp(receiving)(`${BASE}/webhooks/acme/${connectionId}`, {
      method: "POST",
      headers: signed(secret, "msg_large", body),
      body,
    });
    expect(res.status).toBe(202);
    expect(sent.map((m) => m.webhookId)).toEqual(["msg_large"]);
  });
});
