import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { DeliveryDeps } from "../../src/acme/webhooks/delivery-consumer.ts";
import { acme, tokenFor } from "../acme/helpers.ts";
import { recordingQueue, runBatch, storedEvent } from "../acme/webhook-helpers.ts";
import { expectProblem, newConnection, type TestConnection } from "./helpers.ts";

// A public origin: Acme refuses to deliver to reserved names such as bridge.test.
const PUBLIC_ORIGIN = "https://bridge.acme-bridge.dev";

function subscribeAt(connectionId: string, token: string | null = env.ADMIN_TOKEN): Promise<Response> {
  return SELF.fetch(`${PUBLIC_ORIGIN}/api/v1/admin/connections/${connectionId}/webhook-subscription`, {
    method: "POST",
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  });
}

async function subscribe(connectionId: string): Promise<{ subscriptionId: string; url: string }> {
  const res = await subscribeAt(connectionId);
  expect(res.status).toBe(201);
  return res.json();
}

async function acmeSubscriptions(connection: TestConnection): Promise<{ id: string; url: string }[]> {
  const res = await acme("/v1/webhooks", { token: await tokenFor(connection.acmeClient) });
  expect(res.status).toBe(200);
  return (await res.json<{ results: { id: string; url: string }[] }>()).results;
}

/** Delivers one new contact.created event of the account to the integration's receiver; its answers. */
async function deliverOneEvent(connection: TestConnection): Promise<number[]> {
  const statuses: number[] = [];
  const forward: DeliveryDeps["fetch"] = async (url, init) => {
    const res = await SELF.fetch(url, init);
    statuses.push(res.status);
    return res;
  };
  const event = await storedEvent(connection.acmeClient.clientId);
  await runBatch([{ body: { kind: "fanout", eventId: event.id } }], {
    fetch: forward,
    queue: recordingQueue().queue,
  });
  return statuses;
}

describe("POST /api/v1/admin/connections/{id}/webhook-subscription", () => {
  it("keeps one subscription however often it is called: a new contact is delivered once, and accepted", async () => {
    const connection = await newConnection();
    const first = await subscribe(connection.connectionId);
    await subscribe(connection.connectionId);
    const last = await subscribe(connection.connectionId);
    expect(last.url).toBe(`${PUBLIC_ORIGIN}/webhooks/acme/${connection.connectionId}`);
    expect(last.subscriptionId).not.toBe(first.subscriptionId);

    expect((await acmeSubscriptions(connection)).map((s) => s.id)).toEqual([last.subscriptionId]);
    expect(await deliverOneEvent(connection)).toEqual([202]);
  });

  it("replaces a subscription to its URL made at Acme without it (e.g. whose answer was lost)", async () => {
    const connection = await newConnection();
    const token = await tokenFor(connection.acmeClient);
    const url = `${PUBLIC_ORIGIN}/webhooks/acme/${connection.connectionId}`;
    const orphan = await acme("/v1/webhooks", {
      token,
      method: "POST",
      body: { url, events: ["contact.created"] },
    });
    expect(orphan.status).toBe(201);
    const other = await acme("/v1/webhooks", {
      token,
      method: "POST",
      body: { url: "https://elsewhere.acme-bridge.dev/hooks", events: ["contact.created"] },
    });
    const otherId = (await other.json<{ id: string }>()).id;

    const kept = await subscribe(connection.connectionId);

    const left = (await acmeSubscriptions(connection)).map((s) => s.id).sort();
    expect(left).toEqual([kept.subscriptionId, otherId].sort());
    // The unrelated subscription's receiver is not ours; only our one delivery is checked.
    const statuses = await deliverOneEvent(connection);
    expect(statuses.filter((s) => s !== 202)).toHaveLength(1);
    expect(statuses.filter((s) => s === 202)).toHaveLength(1);
  });

  it("answers 404 for an unknown connection and 401 without the admin token, creating nothing", async () => {
    const connection = await newConnection();
    await expectProblem(await subscribeAt("conn_unknown"), 404, "not_found");
    await expectProblem(await subscribeAt(connection.connectionId, null), 401, "unauthorized");
    expect(await acmeSubscriptions(connection)).toEqual([]);
  });
});
