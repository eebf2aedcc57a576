import { beforeAll, describe, expect, it } from "vitest";
import {
  api,
  type Contact,
  createContact,
  errorFields,
  expectProblem,
  newConnection,
  person,
} from "./helpers.ts";

const TOTAL = 250;
const BATCH = 10;
const LIMIT = 40;

interface Page {
  data: Contact[];
  nextCursor: string | null;
}

let key: string;
let created: Contact[];

async function page(query: string): Promise<Page> {
  const res = await api(`/api/v1/contacts?${query}`, { key });
  expect(res.status).toBe(200);
  return res.json<Page>();
}

/** Follows nextCursor from the first page to the last, returning every page. */
async function allPages(query: string): Promise<Page[]> {
  const pages: Page[] = [];
  let cursor: string | null = null;
  do {
    const current = await page(`${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    pages.push(current);
    cursor = current.nextCursor;
    expect(pages.length).toBeLessThanOrEqual(TOTAL);
  } while (cursor !== null);
  return pages;
}

beforeAll(async () => {
  ({ apiKey: key } = await newConnection());
  created = [];
  for (let i = 0; i < TOTAL; i += BATCH) {
    const batch = Array.from({ length: Math.min(BATCH, TOTAL - i) }, (_, j) =>
      createContact(key, person({ firstName: `Person ${i + j}` })),
    );
    created.push(...(await Promise.all(batch)));
  }
}, 120_000);

describe("paging with an API key", () => {
  it(`pages through ${TOTAL} contacts ${LIMIT} at a time: every id exactly once, nextCursor null at the end`, async () => {
    const pages = await allPages(`limit=${LIMIT}`);
    const ids = pages.flatMap((p) => p.data.map((c) => c.id));
    expect(ids.length).toBe(TOTAL);
    expect(new Set(ids).size).toBe(TOTAL);
    expect(new Set(ids)).toEqual(new Set(created.map((c) => c.id)));
    expect(pages.length).toBe(Math.ceil(TOTAL / LIMIT));
    for (const p of pages.slice(0, -1)) expect(p.data.length).toBe(LIMIT);
    expect(pages.at(-1)?.nextCursor).toBeNull();
    for (const contact of pages.flatMap((p) => p.data)) {
      expect(Object.keys(contact).some((k) => k.startsWith("acme_"))).toBe(false);
    }
  });

  it("pages are in a stable order: the same walk twice gives the same sequence", async () => {
    const first = (await allPages("limit=100")).flatMap((p) => p.data.map((c) => c.id));
    const second = (await allPages("limit=100")).flatMap((p) => p.data.map((c) => c.id));
    expect(second).toEqual(first);
    expect(first.length).toBe(TOTAL);
  });

  it("without limit a page holds 20", async () => {
    const first = await page("");
    expect(first.data.length).toBe(20);
    expect(first.nextCursor).toEqual(expect.any(String));
  });

  it("a deleted contact drops out of the listing", async () => {
    const doomed = await createContact(key);
    expect((await api(`/api/v1/contacts/${doomed.id}`, { key, method: "DELETE" })).status).toBe(204);
    const ids = (await allPages("limit=100")).flatMap((p) => p.data.map((c) => c.id));
    expect(ids).not.toContain(doomed.id);
    expect(ids.length).toBe(TOTAL);
  });
});

describe("deleted contacts", () => {
  it("includeDeleted=true lists soft-deleted contacts with deletedAt; live ones have none", async () => {
    const live = await createContact(key);
    const doomed = await createContact(key);
    const before = Date.now();
    expect((await api(`/api/v1/contacts/${doomed.id}`, { key, method: "DELETE" })).status).toBe(204);

    const listed = (await allPages("limit=100&includeDeleted=true")).flatMap((p) => p.data);
    const deleted = listed.find((c) => c.id === doomed.id);
    expect(deleted).toMatchObject({ id: doomed.id, email: doomed.email });
    expect(Date.parse(deleted?.deletedAt ?? "")).toBeGreaterThanOrEqual(before - 1000);
    const stillLive = listed.find((c) => c.id === live.id);
    expect(stillLive).toEqual(live);
    expect(stillLive).not.toHaveProperty("deletedAt");

    // Without it (or with false) a deleted contact is not listed, and no contact has deletedAt.
    for (const query of ["limit=100", "limit=100&includeDeleted=false"]) {
      const data = (await allPages(query)).flatMap((p) => p.data);
      expect(data.map((c) => c.id)).not.toContain(doomed.id);
      expect(data.filter((c) => "deletedAt" in c)).toEqual([]);
    }
    // A deleted contact's own URL stays 404.
    expect((await api(`/api/v1/contacts/${doomed.id}`, { key })).status).toBe(404);
  });

  it("the seed paths (/api/contacts) take includeDeleted too", async () => {
    const doomed = await createContact(key);
    expect((await api(`/api/contacts/${doomed.id}`, { key, method: "DELETE" })).status).toBe(204);
    const res = await api(`/api/contacts?email=${encodeURIComponent(doomed.email)}&includeDeleted=true`, {
      key,
    });
    expect(res.status).toBe(200);
    const { data } = await res.json<Page>();
    expect(data.map((c) => [c.id, typeof c.deletedAt])).toEqual([[doomed.id, "string"]]);
  });

  it("includeDeleted other than true or false is 400 naming it", async () => {
    for (const value of ["yes", "1", "TRUE", ""]) {
      const res = await api(`/api/v1/contacts?includeDeleted=${value}`, { key });
      expect(errorFields(await expectProblem(res, 400, "validation_failed"))).toEqual(["includeDeleted"]);
    }
  });
});

describe("filters", () => {
  it("email returns exactly the contact with that address, whatever its case", async () => {
    const target = created[137] as Contact;
    for (const email of [target.email, target.email.toUpperCase()]) {
      const result = await page(`email=${encodeURIComponent(email)}`);
      expect(result.data.map((c) => c.id)).toEqual([target.id]);
      expect(result.nextCursor).toBeNull();
    }
  });

  it("an email nobody has returns an empty page", async () => {
    const result = await page(`email=${encodeURIComponent(person().email)}`);
    expect(result).toEqual({ data: [], nextCursor: null });
  });

  it("updatedSince returns the contacts updated at or after the instant, and pages like the full list", async () => {
    const touched = [created[3], created[99], created[200]] as Contact[];
    await new Promise((resolve) => setTimeout(resolve, 5));
    const updated: Contact[] = [];
    for (const contact of touched) {
      const res = await api(`/api/v1/contacts/${contact.id}`, {
        key,
        method: "PATCH",
        body: { title: "Touched" },
      });
      expect(res.status).toBe(200);
      updated.push(await res.json<Contact>());
    }
    const since = updated[0]?.updatedAt as string;
    const lastCreate = created
      .map((c) => c.updatedAt)
      .sort()
      .at(-1) as string;
    expect(since > lastCreate).toBe(true);

    const pages = await allPages(`limit=2&updatedSince=${encodeURIComponent(since)}`);
    const ids = pages.flatMap((p) => p.data.map((c) => c.id));
    expect(new Set(ids)).toEqual(new Set(touched.map((c) => c.id)));
    expect(ids.length).toBe(touched.length);

    // The same instant in another offset selects the same contacts.
    const shifted = new Date(since);
    const local = `${new Date(shifted.getTime() + 2 * 3_600_000).toISOString().slice(0, -1)}+02:00`;
    const viaOffset = await page(`limit=100&updatedSince=${encodeURIComponent(local)}`);
    expect(new Set(viaOffset.data.map((c) => c.id))).toEqual(new Set(ids));

    const later = new Date(Date.parse(updated.at(-1)?.updatedAt as string) + 1).toISOString();
    expect((await page(`updatedSince=${encodeURIComponent(later)}`)).data).toEqual([]);
  });

  it("filters combine: email and updatedSince must both match", async () => {
    const target = created[10] as Contact;
    const before = await page(
      `email=${encodeURIComponent(target.email)}&updatedSince=${encodeURIComponent(target.updatedAt)}`,
    );
    expect(before.data.map((c) => c.id)).toEqual([target.id]);
    const future = new Date(Date.now() + 86_400_000).toISOString();
    const none = await page(
      `email=${encodeURIComponent(target.email)}&updatedSince=${encodeURIComponent(future)}`,
    );
    expect(none.data).toEqual([]);
  });
});
