import { createExecutionContext, env } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import type { InboxMessage } from "../../src/integration/webhooks/acme-event.ts";
import { createClient } from "../acme/helpers.ts";
import { admin, BASE, expectProblem, newConnection } from "./helpers.ts";

// Standard Webhooks secrets entering the integration: whsec_ + padded standard base64 of 24 to 64
// bytes, decoded strictly (src/lib/webhook-secret.ts). Anything else is 400 naming the field.

const secretOf = (bytes: Uint8Array) => `whsec_${btoa(String.fromCharCode(...bytes))}`;
const goodSecret = () => secretOf(crypto.getRandomValues(new Uint8Array(32)));

const weakSecrets: [string, string][] = [
  ["whsec_AAAA", "a 3-byte key (the issue's example)"],
  ["whsec_A", "a key that decodes to nothing"],
  [secretOf(new Uint8Array(23).fill(1)), "23 bytes"],
  [secretOf(new Uint8Array(65).fill(1)), "65 bytes"],
  [secretOf(new Uint8Array(32).fill(0xfb)).replace(/\+/g, "-").replace(/\//g, "_"), "base64url"],
  [secretOf(new Uint8Array(32).fill(1)).replace(/=$/, ""), "missing padding"],
  [` ${goodSecret()}`, "leading whitespace"],
  [goodSecret().slice(6), "no whsec_ prefix"],
];

/** Posts a webhook signed with `secret` through the app, with a recording inbox queue. */
async function deliver(connectionId: string, secret: string) {
  const sent: InboxMessage[] = [];
  const recordingEnv = {
    ...env,
    INBOX_QUEUE: { send: async (message: InboxMessage) => void sent.push(message) } as unknown as Queue,
  };
  const body = JSON.stringify({ type: "contact.created", timestamp: new Date().toISOString(), data: {} });
  const at = new Date();
  const id = `msg_${crypto.randomUUID()}`;
  const res = await createApp().fetch(
    new Request(`${BASE}/webhooks/acme/${connectionId}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": id,
        "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
        "webhook-signature": new Webhook(secret).sign(id, at, body),
      },
      body,
    }),
    recordingEnv,
    createExecutionContext(),
  );
  return { status: res.status, sent };
}

async function webhooksConfigured(connectionId: string): Promise<boolean | undefined> {
  const list = await (await admin("/connections")).json<{
    data: { id: string; webhooksConfigured: boolean }[];
  }>();
  return list.data.find((c) => c.id === connectionId)?.webhooksConfigured;
}

describe("PUT /api/v1/admin/connections/{id}/webhook-secret", () => {
  it.each(weakSecrets)("refuses %j (%s) with 400 naming `secret`, and stores nothing", async (secret) => {
    const { connectionId } = await newConnection();
    const res = await admin(`/connections/${connectionId}/webhook-secret`, {
      method: "PUT",
      body: { secret },
    });
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(problem.errors?.map((e) => e.field)).toEqual(["secret"]);
    expect(await webhooksConfigured(connectionId)).toBe(false);
  });

  it("refuses the issue's 3-byte zero key, so a webhook signed with that key is not accepted", async () => {
    const { connectionId } = await newConnection();
    const weak = "whsec_AAAA";
    expect(
      (await admin(`/connections/${connectionId}/webhook-secret`, { method: "PUT", body: { secret: weak } }))
        .status,
    ).toBe(400);
    const { status, sent } = await deliver(connectionId, weak);
    expect(status).toBe(401);
    expect(sent).toEqual([]);
  });

  it("stores a 32-byte secret (204); webhooks signed with it are accepted", async () => {
    const { connectionId } = await newConnection();
    const secret = goodSecret();
    const res = await admin(`/connections/${connectionId}/webhook-secret`, {
      method: "PUT",
      body: { secret },
    });
    expect(res.status).toBe(204);
    expect(await webhooksConfigured(connectionId)).toBe(true);
    const { status, sent } = await deliver(connectionId, secret);
    expect(status).toBe(202);
    expect(sent).toHaveLength(1);
  });

  it("keeps the working secret when a weak one is offered in its place", async () => {
    const { connectionId } = await newConnection();
    const secret = goodSecret();
    await admin(`/connections/${connectionId}/webhook-secret`, { method: "PUT", body: { secret } });
    const refused = await admin(`/connections/${connectionId}/webhook-secret`, {
      method: "PUT",
      body: { secret: "whsec_A" },
    });
    expect(refused.status).toBe(400);
    expect((await deliver(connectionId, secret)).status).toBe(202);
  });

  it("accepts keys at both ends of the Standard Webhooks range (24 and 64 bytes)", async () => {
    const { connectionId } = await newConnection();
    for (const size of [24, 64]) {
      const secret = secretOf(crypto.getRandomValues(new Uint8Array(size)));
      const res = await admin(`/connections/${connectionId}/webhook-secret`, {
        method: "PUT",
        body: { secret },
      });
      expect(res.status).toBe(204);
      expect((await deliver(connectionId, secret)).status).toBe(202);
    }
  });
});

describe("POST /api/v1/admin/connections with acmeWebhookSecret", () => {
  it.each(weakSecrets)(
    "refuses %j (%s) with 400 naming acmeWebhookSecret, creating nothing",
    async (secret) => {
      const client = await createClient();
      const name = `weak-${crypto.randomUUID().slice(0, 8)}`;
      const res = await admin("/connections", {
        method: "POST",
        body: {
          name,
          acmeClientId: client.clientId,
          acmeClientSecret: client.clientSecret,
          acmeWebhookSecret: secret,
        },
      });
      const problem = await expectProblem(res, 400, "validation_failed");
      expect(problem.errors?.map((e) => e.field)).toEqual(["acmeWebhookSecret"]);
      const list = await (await admin("/connections")).json<{ data: { name: string }[] }>();
      expect(list.data.some((c) => c.name === name)).toBe(false);
    },
  );

  it("creates the connection with a valid secret, webhooks configured and verifying", async () => {
    const client = await createClient();
    const secret = goodSecret();
    const res = await admin("/connections", {
      method: "POST",
      body: {
        name: "with secret",
        acmeClientId: client.clientId,
        acmeClientSecret: client.clientSecret,
        acmeWebhookSecret: secret,
      },
    });
    expect(res.status).toBe(201);
    const connection = await res.json<{ id: string; webhooksConfigured: boolean }>();
    expect(connection.webhooksConfigured).toBe(true);
    expect((await deliver(connection.id, secret)).status).toBe(202);
  });
});
