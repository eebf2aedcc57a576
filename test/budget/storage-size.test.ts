import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { fromAcme } from "../../src/integration/contacts/mapping.ts";
import type { StoredContact } from "../../src/integration/contacts/schemas.ts";
import type { IncomingChange } from "../../src/integration/feed/feed-store.ts";
import { newId } from "../../src/lib/ids.ts";
import { withFeedStore } from "../integration/connection-data-helpers.ts";
import { acmeContact } from "../integration/inbox-helpers.ts";

// What a connection's data costs in its object's storage, measured (docs/scaling.md quotes these
// bounds): a contact in the mirror with its backfill entry in the feed, and one more feed entry
// per change. Contacts carry every field, as a full CRM record would.

const CONTACTS = 1000;

function realistic(id: string, version: number): Record<string, unknown> {
  return acmeContact(id, version, {
    acme_first_name: "Alexandrina",
    acme_last_name: "Featherstonehaugh",
    acme_email: `${id}.alexandrina.featherstonehaugh@example-company.com`,
    acme_phone: "+44 20 7946 0958",
    acme_company: "Analytical Engines Limited",
    acme_title: "Head of Customer Operations",
    acme_notes: "Met at the spring conference; prefers email; renewal due in the third quarter.",
  });
}

function change(id: string, version: number, previous: StoredContact | null): IncomingChange {
  return {
    eventId: `msg_${id}_${version}`,
    type: version === 1 ? "contact.created" : "contact.updated",
    occurredAt: new Date().toISOString(),
    contact: fromAcme(realistic(id, version) as never) as StoredContact,
    previous,
    deletedAt: null,
    source: version === 1 ? "backfill" : "webhook",
  };
}

function databaseSize(connectionId: string): Promise<number> {
  const stub = env.CONNECTION_DATA.get(env.CONNECTION_DATA.idFromName(connectionId));
  return runInDurableObject(stub, (_, state) => state.storage.sql.databaseSize);
}

describe("storage per contact and per feed entry, in a connection's object", () => {
  it("stays under 2 KB per contact (mirror row and its first feed entry) and 1.5 KB per later change", async () => {
    const connectionId = `${newId("conn")}_size`;
    const ids = Array.from({ length: CONTACTS }, (_, i) => `ct_size${String(i).padStart(5, "0")}`);
    await withFeedStore(connectionId, () => 0);
    const empty = await databaseSize(connectionId);
    for (let i = 0; i < ids.length; i += 100) {
      const page = ids.slice(i, i + 100).map((id) => change(id, 1, null));
      await withFeedStore(connectionId, (feed) => feed.applyChanges(page, new Date()));
    }
    const backfilled = await databaseSize(connectionId);
    const perContact = (backfilled - empty) / CONTACTS;
    for (let i = 0; i < ids.length; i += 100) {
      const page = ids.slice(i, i + 100).map((id) => change(id, 2, change(id, 1, null).contact));
      await withFeedStore(connectionId, (feed) => feed.applyChanges(page, new Date()));
    }
    const perChange = ((await databaseSize(connectionId)) - backfilled) / CONTACTS;
    console.log(
      JSON.stringify({ perContactBytes: Math.round(perContact), perChangeBytes: Math.round(perChange) }),
    );
    expect(perContact).toBeGreaterThan(200);
    expect(perContact).toBeLessThan(2048);
    expect(perChange).toBeGreaterThan(200);
    expect(perChange).toBeLessThan(1536);
  });
});
