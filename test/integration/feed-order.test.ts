import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { fromAcme } from "../../src/integration/contacts/mapping.ts";
import type { StoredContact } from "../../src/integration/contacts/schemas.ts";
import type { IncomingChange } from "../../src/integration/feed/feed-store.ts";
import type { InboxOutcome } from "../../src/integration/webhooks/inbox-consumer.ts";
import { chunk } from "../../src/lib/d1-limits.ts";
import { dataOf, sqlIn, withFeedStore } from "./connection-data-helpers.ts";
import { newConnection } from "./helpers.ts";
import {
  acmeContact,
  consume,
  eventBody,
  expectFeedOrder,
  inboxMessage,
  seededRandom,
  wholeFeed,
} from "./inbox-helpers.ts";

type Counts = Record<InboxOutcome, number>;

let logSpy: MockInstance<typeof console.log>;
beforeEach(() => {
  logSpy = vi.spyOn(console, "log");
});
afterEach(() => {
  logSpy.mockRestore();
});

/** Every JSON log line written since the last call. */
function takeLog(): Record<string, unknown>[] {
  const lines = logSpy.mock.calls.flatMap(([line]) =>
    typeof line === "string" && line.startsWith("{") ? [JSON.parse(line) as Record<string, unknown>] : [],
  );
  logSpy.mockClear();
  return lines;
}

/** The counts of every "inbox batch handled" line in `lines` (default: logged since the last call), added up. */
function loggedCounts(lines = takeLog()): Counts {
  const total: Counts = { appended: 0, duplicate: 0, stale: 0, dead_lettered: 0, retried: 0 };
  for (const entry of lines) {
    if (entry.message !== "inbox batch handled") continue;
    for (const key of Object.keys(total) as InboxOutcome[]) total[key] += Number(entry[key]);
  }
  return total;
}

const counts = (partial: Partial<Counts>): Counts => ({
  appended: 0,
  duplicate: 0,
  stale: 0,
  dead_lettered: 0,
  retried: 0,
  ...partial,
});

function webhook(
  connectionId: string,
  contactId: string,
  version: number,
  extra: Record<string, unknown> = {},
) {
  const type = extra.acme_deleted_at
    ? "contact.deleted"
    : version === 1
      ? "contact.created"
      : "contact.updated";
  return {
    body: inboxMessage(
      connectionId,
      `msg_${contactId}_${version}`,
      eventBody(
        type,
        acmeContact(contactId, version, extra),
        version > 1 ? acmeContact(contactId, version - 1) : undefined,
      ),
    ),
  };
}

async function mirrorOf(connectionId: string, contactId: string) {
  const [row] = await sqlIn<{ version: number; deleted_at: string | null }>(
    connectionId,
    "SELECT version, deleted_at FROM contact_mirror WHERE contact_id = ?",
    contactId,
  );
  return row ?? null;
}

/** Applies one change as the inbox does, through the connection's object; its outcome. */
async function applyChange(connectionId: string, change: IncomingChange) {
  return (await dataOf(connectionId).applyWebhookChanges(connectionId, [change])).outcomes[0];
}

/** Applies a page of changes set-based, inside the connection's object; how many were appended. */
function applyChanges(connectionId: string, page: IncomingChange[]) {
  return withFeedStore(connectionId, (feed) => feed.applyChanges(page, new Date()));
}

describe("change feed: per contact it never moves backwards", () => {
  it("keeps the mirror at 3 and appends nothing for version 2 arriving after version 3, counting it as stale", async () => {
    const { connectionId, apiKey } = await newConnection();
    await consume([webhook(connectionId, "ct_k", 3)]);
    expect(loggedCounts()).toEqual(counts({ appended: 1 }));
    const late = await consume([webhook(connectionId, "ct_k", 2)]);
    expect(late.explicitAcks).toHaveLength(1);
    const lines = takeLog();
    expect(loggedCounts(lines)).toEqual(counts({ stale: 1 }));
    expect(lines).toContainEqual(
      expect.objectContaining({
        message: "stale change not appended to the feed",
        connectionId,
        contactId: "ct_k",
        version: 2,
        newestVersion: 3,
        source: "webhook",
      }),
    );
    expect((await mirrorOf(connectionId, "ct_k"))?.version).toBe(3);
    expect((await wholeFeed(apiKey)).map((e) => [e.seq, e.contact.version])).toEqual([[1, 3]]);
  });

  it("appends versions 1, 2 and 3 arriving in order, each with its diff", async () => {
    const { connectionId, apiKey } = await newConnection();
    for (const version of [1, 2, 3]) await consume([webhook(connectionId, "ct_l", version)]);
    expect(loggedCounts()).toEqual(counts({ appended: 3 }));
    const events = await wholeFeed(apiKey);
    expect(events.map((e) => [e.seq, e.type, e.contact.version])).toEqual([
      [1, "contact.created", 1],
      [2, "contact.updated", 2],
      [3, "contact.updated", 3],
    ]);
    expect(events[2]?.changes).toEqual({ firstName: { from: "First v2", to: "First v3" } });
  });

  it("counts a redelivered webhook-id and a second webhook for a recorded version as duplicates", async () => {
    const { connectionId, apiKey } = await newConnection();
    const first = webhook(connectionId, "ct_m", 1);
    await consume([first]);
    const sameVersionOtherId = {
      body: { ...first.body, webhookId: "msg_other_id_same_version" },
    };
    const result = await consume([first, sameVersionOtherId]);
    expect(result.explicitAcks).toHaveLength(2);
    expect(loggedCounts()).toEqual(counts({ appended: 1, duplicate: 2 }));
    expect((await wholeFeed(apiKey)).map((e) => e.id)).toEqual([first.body.webhookId]);
  });

  it("does not bring a deleted contact back when an older update arrives after the delete", async () => {
    const { connectionId, apiKey } = await newConnection();
    const deletedAt = new Date(Date.UTC(2026, 0, 2)).toISOString();
    await consume([webhook(connectionId, "ct_n", 1)]);
    await consume([webhook(connectionId, "ct_n", 3, { acme_deleted_at: deletedAt })]);
    await consume([webhook(connectionId, "ct_n", 2)]);
    expect(loggedCounts()).toEqual(counts({ appended: 2, stale: 1 }));
    expect(await mirrorOf(connectionId, "ct_n")).toEqual({ version: 3, deleted_at: deletedAt });
    expect((await wholeFeed(apiKey)).map((e) => [e.type, e.contact.version])).toEqual([
      ["contact.created", 1],
      ["contact.deleted", 3],
    ]);
  });

  it("holds 150 contacts' versions, shuffled and each delivered twice in batches of 100, rising per contact and counted", async () => {
    const { connectionId, apiKey } = await newConnection();
    const random = seededRandom(13);
    const contacts = 150;
    const versions = 4;
    const messages = [];
    for (let c = 0; c < contacts; c++) {
      for (let v = 1; v <= versions; v++) {
        const message = webhook(connectionId, `ct_o${String(c).padStart(3, "0")}`, v);
        messages.push(message, message);
      }
    }
    messages.sort(() => random() - 0.5);
    for (const batch of chunk(messages, 100)) {
      const result = await consume(batch);
      expect(result.retryMessages).toEqual([]);
    }
    const events = await wholeFeed(apiKey);
    const logged = loggedCounts();
    expect(logged.appended).toBe(events.length);
    expect(logged.appended + logged.duplicate + logged.stale).toBe(messages.length);
    expect(logged.duplicate).toBeGreaterThanOrEqual(contacts * versions);
    expectFeedOrder(events, contacts, versions);
  }, 60_000);
});

describe("change feed order across paths", () => {
  function change(
    _connectionId: string,
    contactId: string,
    version: number,
    source: IncomingChange["source"],
  ): IncomingChange {
    return {
      eventId: `${source}_${contactId}_${version}`,
      type: version === 1 ? "contact.created" : "contact.updated",
      occurredAt: new Date().toISOString(),
      contact: fromAcme(acmeContact(contactId, version)) as StoredContact,
      previous: null,
      deletedAt: null,
      source,
    };
  }

  it("skips a reconciled version older than one a webhook brought", async () => {
    const { connectionId, apiKey } = await newConnection();
    await consume([webhook(connectionId, "ct_p", 5)]);
    expect(await applyChange(connectionId, change(connectionId, "ct_p", 4, "reconciliation"))).toBe("stale");
    expect(await applyChange(connectionId, change(connectionId, "ct_p", 5, "reconciliation"))).toBe(
      "duplicate",
    );
    expect((await wholeFeed(apiKey)).map((e) => [e.source, e.contact.version])).toEqual([["webhook", 5]]);
  });

  it("skips a webhook older than a version reconciliation brought, and appends a newer one", async () => {
    const { connectionId, apiKey } = await newConnection();
    expect(await applyChange(connectionId, change(connectionId, "ct_q", 2, "reconciliation"))).toBe(
      "appended",
    );
    await consume([webhook(connectionId, "ct_q", 1)]);
    await consume([webhook(connectionId, "ct_q", 3)]);
    expect(loggedCounts()).toEqual(counts({ stale: 1, appended: 1 }));
    expect((await wholeFeed(apiKey)).map((e) => [e.source, e.contact.version])).toEqual([
      ["reconciliation", 2],
      ["webhook", 3],
    ]);
    expect((await mirrorOf(connectionId, "ct_q"))?.version).toBe(3);
  });
  it("applies a page of 150 changes in one batch: skips versions the feed or mirror already hold, numbers the rest without gaps", async () => {
    const { connectionId, apiKey } = await newConnection();
    // Webhooks got there first for two contacts: one at the page's version, one beyond it.
    await consume([webhook(connectionId, "ct_page3", 1), webhook(connectionId, "ct_page7", 2)]);
    const page = Array.from({ length: 150 }, (_, i) => change(connectionId, `ct_page${i}`, 1, "backfill"));
    expect(await applyChanges(connectionId, page)).toBe(148);
    const events = await wholeFeed(apiKey);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events).toHaveLength(150);
    expect(events.filter((e) => e.source === "backfill").map((e) => e.contact.id)).toEqual(
      page.map((c) => c.contact.id).filter((id) => id !== "ct_page3" && id !== "ct_page7"),
    );
    expect((await mirrorOf(connectionId, "ct_page7"))?.version).toBe(2);
    expect((await mirrorOf(connectionId, "ct_page149"))?.version).toBe(1);
    // The same page again changes nothing.
    expect(await applyChanges(connectionId, page)).toBe(0);
    expect(await wholeFeed(apiKey)).toHaveLength(150);
  });
});
