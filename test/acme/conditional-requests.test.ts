import { describe, expect, it } from "vitest";
import type { AcmeContact } from "../../src/acme/contacts/schemas.ts";
import { acme, createContact, expectAcmeError, signedIn, uniqueEmail } from "./helpers.ts";

// RFC 9110 13.1.1 (If-Match, strong comparison) and 13.1.2 (If-None-Match, weak comparison) on
// Acme's contacts; the rules are in DESIGN.md, "Conditional requests and the round-trip law".

/** A contact at version 3 (created, then changed twice). */
async function contactAtVersion3() {
  const { token } = await signedIn();
  const created = await createContact(token, { acme_email: uniqueEmail(), acme_first_name: "v1" });
  const path = `/v1/contacts/${created.id}`;
  for (const name of ["v2", "v3"]) {
    const res = await acme(path, { token, method: "PATCH", body: { acme_first_name: name } });
    expect(res.status).toBe(200);
  }
  const res = await acme(path, { token });
  const contact = await res.json<AcmeContact>();
  expect(contact.acme_version).toBe(3);
  return { token, path, contact };
}

/** PATCH of the title under the given conditional headers. */
const patchTitle = (token: string, path: string, headers: Record<string, string>) =>
  acme(path, { token, method: "PATCH", body: { acme_title: "x" }, headers });

const writes = [
  ["PUT", (c: AcmeContact) => ({ acme_email: c.acme_email, acme_first_name: "changed" })],
  ["PATCH", () => ({ acme_first_name: "changed" })],
  ["DELETE", () => undefined],
] as const;

/** Well-formed If-Match values that a contact at version 3 does not pass. */
const WELL_FORMED_MISSES = [
  ['"99999999999999999999999999999999"', "a number far beyond any version"],
  ['"1234567890123456"', "a 16-digit number"],
  ['"03"', "the version with a leading zero (not character for character equal)"],
  ['"three"', "an opaque tag"],
  ['","', "a tag holding a comma"],
  ['W/"3", "4"', "a weak match and a strong miss"],
  [",", "an empty list"],
  [", ,", "a list of empty elements"],
] as const;

/** If-Match values a contact at version 3 passes. */
const MATCHING = [
  ['"3"', "the current version"],
  ['"1", "2", "3"', "a list holding it"],
  ['W/"3", "3"', "a list where the strong tag matches"],
  ['"3",', "a trailing empty list element (RFC 9110 5.6.1)"],
  [' , "3"', "a leading empty list element"],
  ['"a,b", "3"', "a list whose first tag holds a comma"],
  ["*", "any current version"],
] as const;

/** Values that are neither `*` nor a list of entity tags. */
const MALFORMED = [
  ["3", "unquoted"],
  ['w/"3"', "a lower-case weak prefix"],
  ['"3', "an unterminated quote"],
  ['"3" "4"', "two tags without a comma"],
  ['*, "3"', "* inside a list"],
  ['"3"x', "text after a tag"],
  ["'3'", "single quotes"],
  ['"3 "', "a space inside the quotes (not an etagc)"],
] as const;

describe("If-Match on writes (strong comparison)", () => {
  it.each(writes)(
    '%s with W/"3" on a contact at version 3 is 412, not 400, and changes nothing',
    async (method, body) => {
      const { token, path, contact } = await contactAtVersion3();
      const res = await acme(path, { token, method, body: body(contact), headers: { "if-match": 'W/"3"' } });
      await expectAcmeError(res, 412, "version_mismatch");
      expect(await (await acme(path, { token })).json()).toEqual(contact);
    },
  );

  it.each(WELL_FORMED_MISSES)(
    "PATCH with the well-formed If-Match %s (%s) is 412 and changes nothing",
    async (ifMatch, _label) => {
      const { token, path, contact } = await contactAtVersion3();
      const res = await patchTitle(token, path, { "if-match": ifMatch });
      await expectAcmeError(res, 412, "version_mismatch");
      expect(await (await acme(path, { token })).json()).toEqual(contact);
    },
  );

  it.each(MATCHING)(
    "PATCH with If-Match %s (%s) applies and returns the next ETag",
    async (ifMatch, _label) => {
      const { token, path } = await contactAtVersion3();
      const res = await patchTitle(token, path, { "if-match": ifMatch });
      expect(res.status).toBe(200);
      expect(res.headers.get("etag")).toBe('"4"');
    },
  );

  it.each(MALFORMED)(
    "PATCH with the malformed If-Match %s (%s) is 400 naming the header",
    async (ifMatch, _label) => {
      const { token, path, contact } = await contactAtVersion3();
      const res = await patchTitle(token, path, { "if-match": ifMatch });
      const body = await expectAcmeError(res, 400, "precondition_invalid");
      expect(body.error.details?.[0]?.field).toBe("If-Match");
      expect(await (await acme(path, { token })).json()).toEqual(contact);
    },
  );

  it("answers 404 before 412 for a contact that does not exist", async () => {
    const { token } = await signedIn();
    const res = await acme("/v1/contacts/ct_00000000000000000000000000", {
      token,
      method: "PATCH",
      body: { acme_title: "x" },
      headers: { "if-match": '"1"' },
    });
    await expectAcmeError(res, 404, "not_found");
  });
});

describe("If-None-Match on GET of one contact (weak comparison)", () => {
  it.each([
    ['"3"', "the current ETag"],
    ['W/"3"', "its weak form"],
    ['"1", W/"3"', "a list holding it"],
    ["*", "any existing contact"],
  ])("answers 304 for %s (%s): no body, the ETag", async (ifNoneMatch, _label) => {
    const { token, path } = await contactAtVersion3();
    const res = await acme(path, { token, headers: { "if-none-match": ifNoneMatch } });
    expect(res.status).toBe(304);
    expect(res.headers.get("etag")).toBe('"3"');
    expect(await res.text()).toBe("");
  });

  it.each([
    ['"2"', "an older version"],
    ['"99999999999999999999"', "a number far beyond any version"],
    ['"03"', "a different spelling"],
    [",", "an empty list"],
  ])("answers 200 with the contact for %s (%s)", async (ifNoneMatch, _label) => {
    const { token, path, contact } = await contactAtVersion3();
    const res = await acme(path, { token, headers: { "if-none-match": ifNoneMatch } });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe('"3"');
    expect(await res.json()).toEqual(contact);
  });

  it("revalidates cheaply: 304 until the contact changes, then 200 with the new ETag", async () => {
    const { token, path } = await contactAtVersion3();
    expect((await acme(path, { token, headers: { "if-none-match": '"3"' } })).status).toBe(304);
    await acme(path, { token, method: "PATCH", body: { acme_title: "changed" } });
    const res = await acme(path, { token, headers: { "if-none-match": '"3"' } });
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe('"4"');
    expect(await res.json()).toMatchObject({ acme_title: "changed", acme_version: 4 });
  });

  it("answers 304 for a deleted contact read with include_deleted, and 404 without", async () => {
    const { token, path } = await contactAtVersion3();
    expect((await acme(path, { token, method: "DELETE" })).status).toBe(204);
    const deleted = await acme(`${path}?include_deleted=true`, {
      token,
      headers: { "if-none-match": '"4"' },
    });
    expect(deleted.status).toBe(304);
    const gone = await acme(path, { token, headers: { "if-none-match": "*" } });
    await expectAcmeError(gone, 404, "not_found");
  });

  it("is 400 naming the header when malformed", async () => {
    const { token, path } = await contactAtVersion3();
    const res = await acme(path, { token, headers: { "if-none-match": "3" } });
    const body = await expectAcmeError(res, 400, "precondition_invalid");
    expect(body.error.details?.[0]?.field).toBe("If-None-Match");
  });

  it("honours If-Match on GET too: 412 when it does not match, 200 when it does", async () => {
    const { token, path } = await contactAtVersion3();
    await expectAcmeError(
      await acme(path, { token, headers: { "if-match": '"2"' } }),
      412,
      "version_mismatch",
    );
    expect((await acme(path, { token, headers: { "if-match": '"3"' } })).status).toBe(200);
  });
});

describe("If-None-Match on writes", () => {
  it.each(writes)(
    "%s with If-None-Match naming the current version is 412 and changes nothing",
    async (method, body) => {
      const { token, path, contact } = await contactAtVersion3();
      for (const ifNoneMatch of ["*", 'W/"3"']) {
        const res = await acme(path, {
          token,
          method,
          body: body(contact),
          headers: { "if-none-match": ifNoneMatch },
        });
        await expectAcmeError(res, 412, "version_mismatch");
      }
      expect(await (await acme(path, { token })).json()).toEqual(contact);
    },
  );

  it("PATCH with If-None-Match naming another version applies", async () => {
    const { token, path } = await contactAtVersion3();
    const res = await patchTitle(token, path, { "if-none-match": '"2"' });
    expect(res.status).toBe(200);
  });
});

describe("the document's pattern for If-Match and If-None-Match", () => {
  it("accepts every well-formed value and refuses every malformed one, as the server does", async () => {
    const doc = await (await acme("/openapi.json")).json<{
      paths: Record<
        string,
        Record<string, { parameters?: { name: string; schema: { pattern?: string } }[] }>
      >;
    }>();
    const operations = Object.values(doc.paths["/v1/contacts/{id}"] ?? {});
    expect(operations.length).toBe(4);
    for (const name of ["if-match", "if-none-match"]) {
      for (const operation of operations) {
        const pattern = operation.parameters?.find((p) => p.name === name)?.schema.pattern;
        expect(pattern, name).toEqual(expect.any(String));
        const documented = new RegExp(pattern ?? "", "u");
        for (const [value] of [...WELL_FORMED_MISSES, ...MATCHING, ["", "blank"]]) {
          expect(documented.test(value), `${name}: ${value}`).toBe(true);
        }
        for (const [value] of MALFORMED) expect(documented.test(value), `${name}: ${value}`).toBe(false);
      }
    }
  });
});
