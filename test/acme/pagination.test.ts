import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { AcmeContact } from "../../src/acme/contacts/schemas.ts";
import { fromBase64Url, newId, toBase64Url } from "../../src/lib/ids.ts";
import { acme, createContact, detailFields, expectAcmeError, signedIn, uniqueEmail } from "./helpers.ts";

interface Page {
  results: AcmeContact[];
  paging?: { next: { after: string } };
}

async function page(token: string, query: string): Promise<Page> {
  const res = await acme(`/v1/contacts?${query}`, { token });
  if (res.status !== 200) throw new Error(`list failed: ${res.status} ${await res.text()}`);
  return res.json<Page>();
}

/** Follows `paging.next.after` to the end; `between` runs after each page but the last. */
async function pageThrough(
  token: string,
  query: string,
  between: (pageIndex: number, seen: AcmeContact[]) => Promise<void> = async () => {},
): Promise<Page[]> {
  const pages: Page[] = [];
  let after: string | undefined;
  for (;;) {
    const current = await page(token, `${query}${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    pages.push(current);
    after = current.paging?.next.after;
    if (!after) return pages;
    if (pages.length > 1000) throw new Error("paging does not end");
    await between(
      pages.length - 1,
      pages.flatMap((p) => p.results),
    );
  }
}

/** Creates `count` contacts through the API, a few at a time. */
async function createMany(token: string, count: number, label: string): Promise<AcmeContact[]> {
  const out: AcmeContact[] = [];
  for (let start = 0; start < count; start += 10) {
    const batch = Array.from({ length: Math.min(10, count - start) }, (_, i) =>
      createContact(token, { acme_email: uniqueEmail(`${label}${start + i}`), acme_notes: `n${start + i}` }),
    );
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/** Inserts contacts straight into Acme's D1, each updated at a chosen instant. */
async function insertAt(accountId: string, instants: Date[]): Promise<{ id: string; updatedAt: string }[]> {
  const rows = instants.map((at) => ({ id: newId("ct", at.getTime()), updatedAt: at.toISOString() }));
  await env.ACME_DB.batch(
    rows.map(({ id, updatedAt }, i) =>
      env.ACME_DB.prepare(
        `INSERT INTO contacts (id, account_id, acme_email, email_key, acme_version, acme_created_at, acme_updated_at)
         VALUES (?, ?, ?, ?, 1, ?, ?)`,
      ).bind(id, accountId, `seeded${i}@example.com`, `seeded${i}@example.com`, updatedAt, updatedAt),
    ),
  );
  return rows;
}

const ids = (contacts: AcmeContact[]) => contacts.map((c) => c.id);

describe("paging through 300 contacts with limit 37", () => {
  const TOTAL = 300;
  const LIMIT = 37;
  let token: string;
  let created: AcmeContact[];

  beforeAll(async () => {
    ({ token } = await signedIn());
    created = await createMany(token, TOTAL, "paged");
  }, 60_000);

  it("returns every contact exactly once, oldest first, with paging on every page but the last", async () => {
    const pages = await pageThrough(token, `limit=${LIMIT}`);
    const seen = pages.flatMap((p) => ids(p.results));

    expect(seen).toHaveLength(TOTAL);
    expect(new Set(seen).size).toBe(TOTAL);
    expect(new Set(seen)).toEqual(new Set(ids(created)));
    expect(seen).toEqual([...seen].sort());

    expect(pages).toHaveLength(Math.ceil(TOTAL / LIMIT));
    for (const p of pages.slice(0, -1)) {
      expect(p.results).toHaveLength(LIMIT);
      expect(p.paging?.next.after).toEqual(expect.any(String));
    }
    const last = pages[pages.length - 1];
    expect(last?.results).toHaveLength(TOTAL % LIMIT);
    expect(last).not.toHaveProperty("paging");
  });

  it("gives the same order on every pass", async () => {
    const first = (await pageThrough(token, `limit=${LIMIT}`)).flatMap((p) => ids(p.results));
    const second = (await pageThrough(token, "limit=100")).flatMap((p) => ids(p.results));
    expect(second).toEqual(first);
  });

  it("keeps the original set whole while contacts are updated and created between pages", async () => {
    const before = (await pageThrough(token, "limit=100")).flatMap((p) => ids(p.results));
    const added: string[] = [];
    const updated = new Map<string, string>();
    const editedAhead = new Set<string>();

    const pages = await pageThrough(token, `limit=${LIMIT}`, async (index, seen) => {
      const seenIds = new Set(ids(seen));
      const alreadySeen = seen[index]?.id;
      const notYetSeen = before.find((id, i) => !seenIds.has(id) && i % 7 === index % 7);
      if (notYetSeen) editedAhead.add(notYetSeen);
      for (const id of [alreadySeen, notYetSeen]) {
        if (!id) continue;
        const note = `edited while paging, page ${index}`;
        const res = await acme(`/v1/contacts/${id}`, { token, method: "PATCH", body: { acme_notes: note } });
        expect(res.status).toBe(200);
        updated.set(id, note);
      }
      added.push((await createContact(token, { acme_email: uniqueEmail("added") })).id);
    });
    const results = pages.flatMap((p) => p.results);
    const seen = ids(results);

    const originals = seen.filter((id) => before.includes(id));
    expect(originals).toEqual(before);
    expect(seen.filter((id) => added.includes(id))).toEqual(added);
    expect(new Set(seen).size).toBe(seen.length);
    expect(editedAhead.size).toBeGreaterThan(1);
    expect(updated.size).toBeGreaterThan(editedAhead.size);

    // Contacts edited before the page reached them show their new data.
    const late = results.filter((c) => editedAhead.has(c.id));
    expect(late).toHaveLength(editedAhead.size);
    for (const contact of late) expect(contact.acme_notes).toBe(updated.get(contact.id));
  });
});

describe("page boundaries", () => {
  it("ends with a full page without paging when the count is a multiple of the limit", async () => {
    const { token } = await signedIn();
    const created = await createMany(token, 10, "exact");
    const pages = await pageThrough(token, "limit=5");
    expect(pages.map((p) => p.results.length)).toEqual([5, 5]);
    expect(pages[1]).not.toHaveProperty("paging");
    expect(pages.flatMap((p) => ids(p.results))).toEqual(ids(created).sort());
  });

  it("answers an empty account with no results and no paging", async () => {
    const { token } = await signedIn();
    expect(await page(token, "")).toEqual({ results: [] });
  });

  it("pages 20 at a time by default and accepts limits 1 and 100", async () => {
    const { token } = await signedIn();
    await createMany(token, 25, "default");
    expect((await page(token, "")).results).toHaveLength(20);
    expect((await page(token, "limit=1")).results).toHaveLength(1);
    expect((await page(token, "limit=100")).results).toHaveLength(25);
  });
});

describe("filters", () => {
  it("updated_since returns only contacts updated at or after the instant, in any offset notation", async () => {
    const { client, token } = await signedIn();
    const base = Date.parse("2024-03-01T12:00:00.000Z");
    const rows = await insertAt(
      client.clientId,
      Array.from({ length: 10 }, (_, i) => new Date(base + i * 60_000)),
    );
    const since = rows[6]?.updatedAt ?? "";
    const expected = rows.filter((r) => r.updatedAt >= since).map((r) => r.id);
    expect(expected).toHaveLength(4);

    expect(ids((await page(token, `updated_since=${encodeURIComponent(since)}`)).results)).toEqual(expected);
    // 13:06+01:00 is 12:06Z, the same instant.
    const withOffset = "2024-03-01T13:06:00+01:00";
    expect(new Date(withOffset).toISOString()).toBe(since);
    expect(ids((await page(token, `updated_since=${encodeURIComponent(withOffset)}`)).results)).toEqual(
      expected,
    );
    // One millisecond later excludes the contact updated exactly at the instant.
    const justAfter = new Date(Date.parse(since) + 1).toISOString();
    expect(ids((await page(token, `updated_since=${encodeURIComponent(justAfter)}`)).results)).toEqual(
      expected.slice(1),
    );
  });

  it("updated_since picks up a contact changed through the API after the instant", async () => {
    const { client, token } = await signedIn();
    const rows = await insertAt(client.clientId, [
      new Date("2024-01-01T00:00:00Z"),
      new Date("2024-01-02T00:00:00Z"),
    ]);
    const since = "2024-06-01T00:00:00Z";
    expect((await page(token, `updated_since=${since}`)).results).toEqual([]);
    const res = await acme(`/v1/contacts/${rows[0]?.id}`, {
      token,
      method: "PATCH",
      body: { acme_title: "new" },
    });
    expect(res.status).toBe(200);
    expect(ids((await page(token, `updated_since=${since}`)).results)).toEqual([rows[0]?.id]);
  });

  it("email matches the whole address, ignoring case", async () => {
    const { token } = await signedIn();
    const target = await createContact(token, { acme_email: uniqueEmail("Target") });
    await createContact(token, { acme_email: `x${target.acme_email}` });
    const query = (email: string) => page(token, `email=${encodeURIComponent(email)}`);

    expect(ids((await query(target.acme_email.toUpperCase())).results)).toEqual([target.id]);
    expect(ids((await query(target.acme_email.toLowerCase())).results)).toEqual([target.id]);
    expect((await query(target.acme_email.slice(1))).results).toEqual([]);
    expect((await query("%")).results).toEqual([]);
  });

  it("include_deleted adds soft-deleted contacts, which are otherwise left out", async () => {
    const { token } = await signedIn();
    const email = uniqueEmail();
    const gone = await createContact(token, { acme_email: email });
    expect((await acme(`/v1/contacts/${gone.id}`, { token, method: "DELETE" })).status).toBe(204);
    const live = await createContact(token, { acme_email: email });

    expect(ids((await page(token, "")).results)).toEqual([live.id]);
    const all = (await page(token, "include_deleted=true")).results;
    expect(ids(all)).toEqual([gone.id, live.id]);
    expect(all[0]?.acme_deleted_at).toEqual(expect.any(String));
    expect(all[1]?.acme_deleted_at).toBeNull();
    const byEmail = await page(token, `include_deleted=true&email=${encodeURIComponent(email)}`);
    expect(ids(byEmail.results)).toEqual([gone.id, live.id]);
  });
});

describe("bad list input", () => {
  it.each([["0"], ["101"], ["abc"], ["1.5"], ["-1"], [""]])(
    "rejects limit=%s with validation_failed naming limit",
    async (limit) => {
      const { token } = await signedIn();
      const body = await expectAcmeError(
        await acme(`/v1/contacts?limit=${limit}`, { token }),
        400,
        "validation_failed",
      );
      expect(detailFields(body)).toEqual(["limit"]);
    },
  );

  it("rejects a garbage or tampered cursor with invalid_cursor", async () => {
    const { token } = await signedIn();
    await createMany(token, 3, "cursor");
    const cursor = (await page(token, "limit=1")).paging?.next.after ?? "";
    expect((await page(token, `limit=1&after=${cursor}`)).results).toHaveLength(1);

    const decoded = new TextDecoder().decode(fromBase64Url(cursor));
    const encode = (text: string) => toBase64Url(new TextEncoder().encode(text));
    const tampered = [
      "garbage",
      "!!!!",
      cursor.slice(0, -2),
      `${cursor}AA`,
      encode(decoded.replace("c1:", "c2:")),
      encode(`${decoded.slice(0, -1)}'`),
      encode("c1:ct_' OR 1=1 --"),
      encode(decoded.toUpperCase()),
    ];
    for (const after of tampered) {
      const res = await acme(`/v1/contacts?after=${encodeURIComponent(after)}`, { token });
      const body = await expectAcmeError(res, 400, "invalid_cursor");
      expect(detailFields(body)).toEqual(["after"]);
    }
  });

  it("a cursor from another account reveals nothing of that account", async () => {
    const owner = await signedIn();
    await createMany(owner.token, 3, "owner");
    const cursor = (await page(owner.token, "limit=1")).paging?.next.after ?? "";
    const other = await signedIn();
    const mine = await createContact(other.token, { acme_email: uniqueEmail() });
    const res = await page(other.token, `after=${cursor}`);
    expect(ids(res.results)).toEqual([mine.id]);
  });

  it.each([
    ["yesterday"],
    ["2024-13-01T00:00:00Z"],
    ["2024-02-30T00:00:00Z"],
    ["2024-01-01"],
    ["1717171717"],
  ])("rejects updated_since=%s with validation_failed naming updated_since", async (since) => {
    const { token } = await signedIn();
    const res = await acme(`/v1/contacts?updated_since=${encodeURIComponent(since)}`, { token });
    expect(detailFields(await expectAcmeError(res, 400, "validation_failed"))).toEqual(["updated_since"]);
  });

  it.each([["sort=email"], ["cursor=abc"], ["include_deleted=yes"], ["limit=5&offset=10"]])(
    "rejects %s (unknown parameter or value) with validation_failed",
    async (query) => {
      const { token } = await signedIn();
      await expectAcmeError(await acme(`/v1/contacts?${query}`, { token }), 400, "validation_failed");
    },
  );
});
