import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadIntegrationConfig } from "../../src/integration/config.ts";
import { ContactCache } from "../../src/integration/contacts/contact-cache.ts";
import { acme, tokenFor } from "../acme/helpers.ts";
import { reconcileNow } from "./connection-data-helpers.ts";
import { acmeCallsDuring, defineProperties, mapFields } from "./custom-field-helpers.ts";
import {
  api,
  type Contact,
  createContact,
  newConnection,
  type PublicJob,
  person,
  type TestConnection,
  untilJob,
} from "./helpers.ts";
import { acmeContact, consume, eventBody, inboxMessage } from "./inbox-helpers.ts";

interface FeedEvent {
  seq: number;
  type: string;
  source: string;
  contact: Contact;
  changes: Record<string, { from: unknown; to: unknown }>;
}

/** Names that stay the same across versions, so a change's diff holds only what a test changes. */
const SAME_NAME = { acme_first_name: "Ada" };

async function feedOf(key: string): Promise<FeedEvent[]> {
  const res = await api("/api/v1/events?after=0&limit=500", { key });
  expect(res.status).toBe(200);
  return (await res.json<{ data: FeedEvent[] }>()).data;
}

/** A connection whose account defines contract_tier, seats and region, mapping the first two. */
async function mappedConnection(): Promise<TestConnection> {
  const connection = await newConnection();
  await defineProperties(connection, [
    { name: "contract_tier", label: "Contract tier", type: "enumeration", options: ["silver", "gold"] },
    { name: "seats", label: "Seats", type: "number" },
    { name: "region", label: "Region", type: "string" },
  ]);
  await mapFields(connection.apiKey, { tier: { remote: "contract_tier" }, seats: { remote: "seats" } });
  return connection;
}

/** Runs the connection's reconciliation now and waits for it to succeed. */
async function reconcile(connection: TestConnection): Promise<void> {
  const before = new Set((await jobsOf(connection.apiKey)).map((j) => j.id));
  expect(await reconcileNow(connection.connectionId)).toBe(true);
  const job = (await jobsOf(connection.apiKey)).find((j) => j.kind === "reconcile" && !before.has(j.id));
  expect(await untilJob(connection.apiKey, job?.id as string)).toMatchObject({ status: "succeeded" });
}

async function jobsOf(key: string): Promise<PublicJob[]> {
  return (await (await api("/api/v1/jobs?limit=100", { key })).json<{ data: PublicJob[] }>()).data;
}

async function webhook(
  connection: TestConnection,
  type: string,
  data: Record<string, unknown>,
  previous?: Record<string, unknown>,
) {
  const result = await consume([
    {
      body: inboxMessage(
        connection.connectionId,
        `msg_${crypto.randomUUID()}`,
        eventBody(type, data, previous),
      ),
    },
  ]);
  expect(result.explicitAcks.length + result.outcome.length).toBeGreaterThan(0);
}

describe("custom fields in the change feed", () => {
  it("a webhook's custom values show as customFields, and its changes name customFields.<name> for the mapped ones only", async () => {
    const connection = await mappedConnection();
    const v1 = acmeContact("ct_cf1", 1, {
      ...SAME_NAME,
      acme_custom: { contract_tier: "silver", region: "EU" },
    });
    const v2 = acmeContact("ct_cf1", 2, {
      ...SAME_NAME,
      acme_custom: { contract_tier: "gold", seats: 4, region: "US" },
    });
    const v3 = acmeContact("ct_cf1", 3, {
      ...SAME_NAME,
      acme_custom: { contract_tier: "gold", seats: 4, region: "APAC" },
    });
    await webhook(connection, "contact.created", v1);
    await webhook(connection, "contact.updated", v2, v1);
    await webhook(connection, "contact.updated", v3, v2);
    const events = (await feedOf(connection.apiKey)).filter((e) => e.contact.id === "ct_cf1");
    expect(events.map((e) => e.contact.customFields)).toEqual([
      { tier: "silver", seats: null },
      { tier: "gold", seats: 4 },
      { tier: "gold", seats: 4 },
    ]);
    expect(events[0]?.changes).toMatchObject({ "customFields.tier": { from: null, to: "silver" } });
    expect(events[1]?.changes).toEqual({
      "customFields.tier": { from: "silver", to: "gold" },
      "customFields.seats": { from: null, to: 4 },
    });
    // Only an unmapped property changed: nothing the connection sees.
    expect(events[2]?.changes).toEqual({});
    for (const event of events) {
      expect(JSON.stringify(event)).not.toContain("region");
      expect(JSON.stringify(event)).not.toContain("acme_custom");
    }
  });

  it("a mapping change renames every entry already in the feed at once, with no call to Acme", async () => {
    const connection = await mappedConnection();
    const v1 = acmeContact("ct_cf2", 1, {
      ...SAME_NAME,
      acme_custom: { contract_tier: "silver", region: "EU" },
    });
    const v2 = acmeContact("ct_cf2", 2, {
      ...SAME_NAME,
      acme_custom: { contract_tier: "gold", region: "EU" },
    });
    await webhook(connection, "contact.created", v1);
    await webhook(connection, "contact.updated", v2, v1);
    await mapFields(connection.apiKey, { plan: { remote: "contract_tier" }, area: { remote: "region" } });
    let events: FeedEvent[] = [];
    expect(
      await acmeCallsDuring(async () => {
        events = (await feedOf(connection.apiKey)).filter((e) => e.contact.id === "ct_cf2");
      }),
    ).toBe(0);
    expect(events.map((e) => e.contact.customFields)).toEqual([
      { area: "EU", plan: "silver" },
      { area: "EU", plan: "gold" },
    ]);
    expect(events[1]?.changes).toEqual({ "customFields.plan": { from: "silver", to: "gold" } });
  });

  it("reconciliation records custom-value changes made at Acme, named by the mapping", async () => {
    const connection = await mappedConnection();
    const contact = await createContact(connection.apiKey, person({ customFields: { tier: "silver" } }));
    const token = await tokenFor(connection.acmeClient);
    // No webhook subscription in tests: changes reach the feed through reconciliation (twice: the
    // first records the contact as created, the second the change made at Acme meanwhile).
    await reconcile(connection);
    const res = await acme(`/v1/contacts/${contact.id}`, {
      token,
      method: "PATCH",
      body: { acme_custom: { contract_tier: "gold", seats: 2, region: "EU" } },
    });
    expect(res.status).toBe(200);
    await reconcile(connection);
    const events = (await feedOf(connection.apiKey)).filter((e) => e.contact.id === contact.id);
    const healed = events.find(
      (e) => e.source === "reconciliation" && e.contact.version === contact.version + 1,
    );
    expect(healed?.contact.customFields).toEqual({ tier: "gold", seats: 2 });
    expect(healed?.changes).toEqual({
      "customFields.tier": { from: "silver", to: "gold" },
      "customFields.seats": { from: null, to: 2 },
    });
  });
});

describe("copies kept before custom fields existed", () => {
  it("a cached copy without Acme's custom values is not served as fresh to a connection that maps some", async () => {
    const connection = await mappedConnection();
    const contact = await createContact(connection.apiKey, person({ customFields: { tier: "gold" } }));
    const { customFields: _, ...legacy } = contact;
    const cache = new ContactCache(
      env.CACHE,
      connection.connectionId,
      loadIntegrationConfig(env).cacheTtlSeconds,
    );
    expect(await cache.store(legacy)).toBe("written");
    const res = await api(`/api/v1/contacts/${contact.id}`, { key: connection.apiKey });
    expect(res.headers.get("x-cache")).toBe("MISS");
    expect((await res.json<Contact>()).customFields).toEqual({ tier: "gold", seats: null });
  });
});
