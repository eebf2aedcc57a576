import { describe, expect, it } from "vitest";
import { acme, createClient, tokenFor, uniqueEmail } from "../acme/helpers.ts";
import { acmeCallsDuring, defineProperties, mapFields } from "./custom-field-helpers.ts";
import { api, type Contact, connect } from "./helpers.ts";

const CONTACTS = 150;

interface Round {
  calls: { contacts: number; lists: number; feed: number };
  customFields: Record<string, unknown>[];
}

/** Reads every contact by id, every list page and every feed page, counting the calls to Acme each kind cost. */
async function readEverything(key: string, ids: string[]): Promise<Round> {
  const customFields: Record<string, unknown>[] = [];
  const contacts = await acmeCallsDuring(async () => {
    for (const id of ids) {
      const res = await api(`/api/v1/contacts/${id}`, { key });
      expect(res.status).toBe(200);
      expect(res.headers.get("x-cache")).toBe("HIT");
      customFields.push((await res.json<Contact>()).customFields);
    }
  });
  const lists = await acmeCallsDuring(async () => {
    let cursor: string | null = null;
    do {
      const res = await api(`/api/v1/contacts?limit=100${cursor ? `&cursor=${cursor}` : ""}`, { key });
      expect(res.status).toBe(200);
      const page = await res.json<{ data: Contact[]; nextCursor: string | null }>();
      customFields.push(...page.data.map((c) => c.customFields));
      cursor = page.nextCursor;
    } while (cursor);
  });
  const feed = await acmeCallsDuring(async () => {
    let after = 0;
    for (;;) {
      const res = await api(`/api/v1/events?after=${after}&limit=100`, { key });
      expect(res.status).toBe(200);
      const page = await res.json<{ data: { contact: Contact }[]; nextAfter: number }>();
      if (page.data.length === 0) break;
      customFields.push(...page.data.map((e) => e.contact.customFields));
      after = page.nextAfter;
    }
  });
  return { calls: { contacts, lists, feed }, customFields };
}

describe("a mapping change costs no call to Acme", { timeout: 120_000 }, () => {
  it(`after a change, reads of ${CONTACTS} previously read contacts, list pages and feed pages make exactly the calls they made before it (none for contacts and the feed) and show the new mapping`, async () => {
    const acmeClient = await createClient();
    const token = await tokenFor(acmeClient);
    const ids: string[] = [];
    for (let i = 0; i < CONTACTS; i++) {
      const res = await acme("/v1/contacts", {
        token,
        method: "POST",
        body: {
          acme_email: uniqueEmail(`cost${i}`),
          acme_first_name: `F${i}`,
          acme_last_name: "L",
        },
      });
      expect(res.status).toBe(201);
      ids.push((await res.json<{ id: string }>()).id);
    }
    // The backfill of a new connection fills its mirror and its feed with Acme's raw custom values.
    const connection = await connect(acmeClient);
    await defineProperties(connection, [
      { name: "contract_tier", label: "Contract tier", type: "enumeration", options: ["silver", "gold"] },
      { name: "seats", label: "Seats", type: "number" },
    ]);
    for (const [i, id] of ids.entries()) {
      const res = await acme(`/v1/contacts/${id}`, {
        token,
        method: "PATCH",
        body: { acme_custom: { contract_tier: "gold", seats: i } },
      });
      expect(res.status).toBe(200);
    }
    await mapFields(connection.apiKey, { tier: { remote: "contract_tier" } });
    // Read once each (cached now, with the raw values), so later reads are HITs.
    for (const id of ids)
      expect((await api(`/api/v1/contacts/${id}`, { key: connection.apiKey })).status).toBe(200);

    const before = await readEverything(connection.apiKey, ids);
    const change = await acmeCallsDuring(() =>
      mapFields(connection.apiKey, { level: { remote: "contract_tier" }, seats: { remote: "seats" } }),
    );
    const after = await readEverything(connection.apiKey, ids);

    // The PUT checks the properties at Acme (one call); nothing else is asked of Acme because of it.
    expect(change).toBe(1);
    expect(after.calls).toEqual(before.calls);
    expect(after.calls.contacts).toBe(0);
    expect(after.calls.feed).toBe(0);
    expect(after.calls.lists).toBe(2);
    expect(before.customFields.every((c) => Object.keys(c).join() === "tier")).toBe(true);
    expect(after.customFields.length).toBe(before.customFields.length);
    expect(after.customFields.every((c) => Object.keys(c).sort().join() === "level,seats")).toBe(true);
    expect(after.customFields.slice(0, CONTACTS)).toEqual(ids.map((_, i) => ({ level: "gold", seats: i })));
  });
});
