import { describe, expect, it } from "vitest";
import { isAcmeUnavailable } from "../../src/integration/acme-client/acme-errors.ts";
import { AcmeContacts } from "../../src/integration/contacts/acme-contacts.ts";
import { ACME_CONTACT, problemOf } from "./helpers.ts";
import { client, fakeClock, json, memorySession, scriptedAcme } from "./resilience/scripted-acme.ts";

/** AcmeContacts over a scripted Acme in virtual time, and what Acme was sent. */
function contactsOver(script: Parameters<typeof scriptedAcme>[2], deadline?: () => number) {
  const clock = fakeClock();
  const session = memorySession(clock);
  const { transport, seen } = scriptedAcme(clock, session, script);
  const { acme } = client(clock, session, transport);
  return { contacts: new AcmeContacts(acme, deadline), seen, clock };
}

const page = (results: unknown[]) => json(200, { results });

describe("AcmeContacts: a write is retried only once Acme was asked whether it happened", () => {
  it("a create that failed ambiguously but landed answers the contact found by email, without a second POST", async () => {
    const { contacts, seen } = contactsOver([json(500), page([ACME_CONTACT])]);
    const created = await contacts.create({ acme_email: ACME_CONTACT.acme_email, acme_first_name: "Ada" });
    expect(created.id).toBe(ACME_CONTACT.id);
    expect(seen.map((s) => s.method)).toEqual(["POST", "GET"]);
    expect(seen[1]?.path).toBe(
      `/acme/v1/contacts?email=${encodeURIComponent(ACME_CONTACT.acme_email)}&limit=1`,
    );
  });

  it("a create that failed ambiguously and did not land is sent again", async () => {
    const { contacts, seen } = contactsOver([json(500), page([]), json(201, ACME_CONTACT)]);
    const created = await contacts.create({ acme_email: ACME_CONTACT.acme_email });
    expect(created.acme_version).toBe(ACME_CONTACT.acme_version);
    expect(seen.map((s) => s.method)).toEqual(["POST", "GET", "POST"]);
  });

  it("a create whose email lookup Acme refuses fails with that problem instead of writing blind", async () => {
    const { contacts, seen } = contactsOver([json(500), json(403, { error: { code: "forbidden" } })]);
    const problem = await problemOf(contacts.create({ acme_email: ACME_CONTACT.acme_email }));
    expect(problem.code).toBe("acme_auth_failed");
    expect(seen.filter((s) => s.method === "POST")).toHaveLength(1);
  });

  it("an unconditional write that failed ambiguously is retried with If-Match of the version just read", async () => {
    const { contacts, seen } = contactsOver([
      json(503),
      json(200, ACME_CONTACT),
      json(200, { ...ACME_CONTACT, acme_notes: "new", acme_version: 4 }),
    ]);
    const updated = await contacts.write("ct_1", "PATCH", { acme_notes: "new" });
    expect(updated.acme_version).toBe(4);
    expect(seen.map((s) => s.method)).toEqual(["PATCH", "GET", "PATCH"]);
    expect(seen[0]?.headers.get("if-match")).toBeNull();
    expect(seen[2]?.headers.get("if-match")).toBe('"3"');
  });

  it("a conditional write is retried with the caller's condition, and one already applied is not sent again", async () => {
    const retried = contactsOver([json(503), json(200, ACME_CONTACT), json(412, { error: {} })]);
    const problem = await problemOf(
      retried.contacts.write("ct_1", "PATCH", { acme_notes: "new" }, { "if-match": '"2"' }),
    );
    expect(problem.code).toBe("version_mismatch");
    expect(retried.seen[2]?.headers.get("if-match")).toBe('"2"');

    const applied = contactsOver([json(503), json(200, { ...ACME_CONTACT, acme_notes: "new" })]);
    const updated = await applied.contacts.write(
      "ct_1",
      "PATCH",
      { acme_notes: "new" },
      { "if-match": '"3"' },
    );
    expect(updated.acme_notes).toBe("new");
    expect(applied.seen.map((s) => s.method)).toEqual(["PATCH", "GET"]);
  });

  it("a delete that failed ambiguously and is gone at Acme is done, not retried into a 404", async () => {
    const { contacts, seen } = contactsOver([json(503), json(404, { error: { code: "not_found" } })]);
    await contacts.remove("ct_1");
    expect(seen.map((s) => s.method)).toEqual(["DELETE", "GET"]);
  });
});

describe("AcmeContacts: reads and Acme's non-OK answers", () => {
  it("reads a page with its next cursor, sending only the parameters given", async () => {
    const { contacts, seen } = contactsOver([
      json(200, { results: [ACME_CONTACT], paging: { next: { after: "c2" } } }),
    ]);
    const read = await contacts.list({ limit: 100, after: "c1", updatedSince: null, includeDeleted: true });
    expect(read).toEqual({ results: [ACME_CONTACT], next: "c2" });
    expect(seen[0]?.path).toBe("/acme/v1/contacts?limit=100&after=c1&include_deleted=true");
  });

  it("answers 400 invalid_cursor on the API's cursor field when Acme refuses the cursor", async () => {
    const { contacts } = contactsOver([json(400, { error: { code: "invalid_cursor" } })]);
    const problem = await problemOf(contacts.list({ limit: 10, after: "nope" }));
    expect(problem.code).toBe("invalid_cursor");
    expect(problem.options.errors).toEqual([{ field: "cursor", message: "not a cursor issued by this API" }]);
  });

  it("passes Acme's field errors through with the API's names, and a broken contract as acme_bad_response", async () => {
    const rejected = contactsOver([
      json(400, { error: { code: "validation_failed", details: [{ field: "acme_email", message: "bad" }] } }),
    ]);
    const problem = await problemOf(rejected.contacts.create({ acme_email: "x" }));
    expect([problem.code, problem.options.errors]).toEqual([
      "validation_failed",
      [{ field: "email", message: "bad" }],
    ]);

    const broken = contactsOver([json(200, { id: 7 })]);
    expect((await problemOf(broken.contacts.get("ct_1"))).code).toBe("acme_bad_response");
  });

  it("holds each call to the deadline it is given: past it, no call is made", async () => {
    const late = contactsOver([json(200, ACME_CONTACT)], () => 0);
    const problem = await problemOf(late.contacts.get("ct_1"));
    expect(isAcmeUnavailable(problem)).toBe(true);
    expect(late.seen).toHaveLength(0);

    const onTime = contactsOver([json(200, ACME_CONTACT)]);
    expect((await onTime.contacts.get("ct_1")).id).toBe("ct_1");
  });
});
