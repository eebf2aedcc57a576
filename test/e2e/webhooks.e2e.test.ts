import { describe, expect, it } from "vitest";
import { acmeToken, admin, base, eventually, newConnection, post, sleep } from "./helpers.ts";

interface FeedEvent {
  seq: number;
  type: string;
  source: string;
  contact: { id: string; version: number };
  changes: Record<string, { from: unknown; to: unknown }>;
}

async function feed(apiKey: string): Promise<FeedEvent[]> {
  const res = await fetch(`${base}/api/v1/events?after=0&limit=500`, {
    headers: { authorization: `Bearer ${apiKey}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: FeedEvent[] }).data;
}

describe("webhooks through the real local queues (wrangler dev)", () => {
  it("carries changes from the integration and from Acme into the change feed, and reconciliation heals a dropped one", async () => {
    const connection = await newConnection();
    const subscription = await post<{ subscriptionId: string }>(
      `/api/v1/admin/connections/${connection.connectionId}/webhook-subscription`,
      admin,
      {},
    );
    const headers = { authorization: `Bearer ${connection.apiKey}`, "content-type": "application/json" };

    const created = await fetch(`${base}/api/contacts`, {
      method: "POST",
      headers,
      body: JSON.stringify({ firstName: "Mary", lastName: "Jackson", email: "mary@example.com" }),
    });
    expect(created.status).toBe(201);
    const contact = (await created.json()) as { id: string };
    const createdEvent = await eventually(async () =>
      (await feed(connection.apiKey)).find(
        (e) => e.contact.id === contact.id && e.type === "contact.created",
      ),
    );
    expect(createdEvent.source).toBe("webhook");

    // A change made directly at Acme, by another of the account's users.
    const token = await acmeToken(connection);
    const acme = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const patched = await fetch(`${base}/acme/v1/contacts/${contact.id}`, {
      method: "PATCH",
      headers: acme,
      body: JSON.stringify({ acme_title: "Engineer" }),
    });
    expect(patched.status).toBe(200);
    const updated = await eventually(async () =>
      (await feed(connection.apiKey)).find((e) => e.contact.id === contact.id && e.contact.version === 2),
    );
    expect(updated).toMatchObject({
      type: "contact.updated",
      source: "webhook",
      changes: { title: { from: null, to: "Engineer" } },
    });

    // Drop the next webhook on purpose: the subscription is off while Acme changes the contact.
    const off = await fetch(`${base}/acme/v1/webhooks/${subscription.subscriptionId}`, {
      method: "PATCH",
      headers: acme,
      body: JSON.stringify({ enabled: false }),
    });
    expect(off.status).toBe(200);
    await fetch(`${base}/acme/v1/contacts/${contact.id}`, {
      method: "PATCH",
      headers: acme,
      body: JSON.stringify({ acme_notes: "missed by webhooks" }),
    });
    await sleep(2500);
    expect((await feed(connection.apiKey)).some((e) => e.contact.version === 3)).toBe(false);

    // The connection's own schedule would reconcile within RECONCILE_INTERVAL_SECONDS; the
    // operator starts it now.
    const reconcile = await fetch(`${base}/api/v1/admin/connections/${connection.connectionId}/reconcile`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(reconcile.status).toBe(202);
    const healed = await eventually(async () =>
      (await feed(connection.apiKey)).find((e) => e.contact.id === contact.id && e.contact.version === 3),
    );
    expect(healed).toMatchObject({ type: "contact.updated", source: "reconciliation" });
    expect(healed.changes).toEqual({ notes: { from: null, to: "missed by webhooks" } });

    const events = await feed(connection.apiKey);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  });

  it("refuses an unsigned webhook", async () => {
    const connection = await newConnection();
    const res = await fetch(`${base}/webhooks/acme/${connection.connectionId}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "contact.created" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });
});
