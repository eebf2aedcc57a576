import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { AcmeContact } from "../../src/acme/contacts/schemas.ts";
import { acmeContacts, tokenFor, uniqueEmail } from "../acme/helpers.ts";
import { BASE, expectProblem, newConnection, type PublicJob, untilJob } from "./helpers.ts";

interface JobError {
  row: number;
  email: string | null;
  code: string;
  errors: { field: string; message: string }[];
}

function postImport(key: string, body: string | Uint8Array, contentType: string): Promise<Response> {
  return SELF.fetch(`${BASE}/api/v1/imports`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": contentType },
    body,
  });
}

async function runImport(key: string, body: string | Uint8Array, contentType: string): Promise<PublicJob> {
  const res = await postImport(key, body, contentType);
  expect(res.status).toBe(202);
  return untilJob(key, (await res.json<PublicJob>()).id);
}

async function jobErrors(key: string, jobId: string): Promise<JobError[]> {
  const res = await SELF.fetch(`${BASE}/api/v1/jobs/${jobId}/errors?limit=100`, {
    headers: { authorization: `Bearer ${key}` },
  });
  expect(res.status).toBe(200);
  return (await res.json<{ data: JobError[] }>()).data;
}

const byEmail = (contacts: AcmeContact[]) =>
  new Map(
    contacts.map((c) => [c.acme_email.toLowerCase(), { version: c.acme_version, title: c.acme_title }]),
  );

type Row = { firstName: string; lastName: string; email: string; title: string };

/** The same rows in each import format. */
const FORMATS: Record<string, { type: string; body: (rows: Row[]) => string }> = {
  CSV: {
    type: "text/csv",
    body: (rows) =>
      [
        "firstName,lastName,email,title",
        ...rows.map((r) => [r.firstName, r.lastName, r.email, r.title].join(",")),
      ].join("\n"),
  },
  NDJSON: { type: "application/x-ndjson", body: (rows) => rows.map((r) => JSON.stringify(r)).join("\n") },
  JSON: { type: "application/json", body: (rows) => JSON.stringify({ contacts: rows }) },
};

describe("an email on several rows of one file", { timeout: 120_000 }, () => {
  it.each(Object.entries(FORMATS))(
    "%s: the last valid row wins, earlier ones are duplicate_in_file, and a re-run writes nothing",
    async (_format, { type, body }) => {
      const { apiKey, acmeClient } = await newConnection();
      const twice = uniqueEmail("twice");
      const once = uniqueEmail("once");
      const rows: Row[] = [
        { firstName: "Ada", lastName: "First", email: twice, title: "First" },
        { firstName: "Bob", lastName: "Once", email: once, title: "Only" },
        { firstName: "Ada", lastName: "Last", email: twice.toUpperCase(), title: "Last" },
      ];
      const first = await runImport(apiKey, body(rows), type);
      expect(first).toMatchObject({ status: "succeeded", total: 3, succeeded: 2, failed: 1 });
      const errors = await jobErrors(apiKey, first.id);
      expect(errors).toEqual([
        {
          row: 1,
          email: twice,
          code: "duplicate_in_file",
          errors: [{ field: "email", message: "also on row 3, which is imported instead" }],
        },
      ]);
      const token = await tokenFor(acmeClient);
      const afterFirst = byEmail(await acmeContacts(token));
      expect(afterFirst.get(twice)).toEqual({ version: 1, title: "Last" });

      const again = await runImport(apiKey, body(rows), type);
      expect(again).toMatchObject({ status: "succeeded", succeeded: 2, failed: 1 });
      expect(byEmail(await acmeContacts(token))).toEqual(afterFirst);
    },
  );

  it("a later row that is invalid does not displace an earlier valid one: that one is imported", async () => {
    const { apiKey, acmeClient } = await newConnection();
    const email = uniqueEmail("later-invalid");
    const ndjson = [
      JSON.stringify({ firstName: "Ada", lastName: "Valid", email, title: "Kept" }),
      JSON.stringify({ firstName: "", lastName: "Invalid", email, title: "Refused" }),
    ].join("\n");
    const job = await runImport(apiKey, ndjson, "application/x-ndjson");
    expect(job).toMatchObject({ succeeded: 1, failed: 1 });
    expect((await jobErrors(apiKey, job.id)).map((e) => [e.row, e.code])).toEqual([[2, "validation_failed"]]);
    const contacts = byEmail(await acmeContacts(await tokenFor(acmeClient)));
    expect(contacts.get(email)?.title).toBe("Kept");
  });
});

describe("import bytes that are not UTF-8", () => {
  const BAD = new Uint8Array([0x41, 0xff, 0x42]); // "A", a byte no UTF-8 text holds, "B"
  const withBadBytes = (before: string, after: string) => {
    const head = new TextEncoder().encode(before);
    const tail = new TextEncoder().encode(after);
    const bytes = new Uint8Array(head.length + BAD.length + tail.length);
    bytes.set(head);
    bytes.set(BAD, head.length);
    bytes.set(tail, head.length + BAD.length);
    return bytes;
  };

  it.each([
    ["CSV", "text/csv", "firstName,lastName,email\nAda,", ",a@example.com\n"],
    ["NDJSON", "application/x-ndjson", '{"firstName":"Ada","lastName":"', '","email":"a@example.com"}\n'],
    [
      "JSON",
      "application/json",
      '{"contacts":[{"firstName":"Ada","lastName":"',
      '","email":"a@example.com"}]}',
    ],
  ])(
    "%s: the whole body is refused, 400 naming body, and no job starts",
    async (_format, type, before, after) => {
      const { apiKey } = await newConnection();
      const problem = await expectProblem(
        await postImport(apiKey, withBadBytes(before, after), type),
        400,
        "validation_failed",
      );
      expect(problem.errors?.map((e) => e.field)).toEqual(["body"]);
      const jobs = await SELF.fetch(`${BASE}/api/v1/jobs`, {
        headers: { authorization: `Bearer ${apiKey}` },
      });
      expect((await jobs.json<{ data: PublicJob[] }>()).data.filter((j) => j.kind === "import")).toEqual([]);
    },
  );

  it("UTF-8 beyond ASCII, behind a byte order mark, is stored as sent (the mark dropped)", async () => {
    const { apiKey, acmeClient } = await newConnection();
    const email = uniqueEmail("utf8");
    const text = `firstName,lastName,email,title\nZoë,Ångström,${email},Ōkubo 東京\n`;
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(text)]);
    expect(await runImport(apiKey, bom, "text/csv")).toMatchObject({ succeeded: 1, failed: 0 });
    const contact = (await acmeContacts(await tokenFor(acmeClient))).find((c) => c.acme_email === email);
    expect(contact).toMatchObject({
      acme_first_name: "Zoë",
      acme_last_name: "Ångström",
      acme_title: "Ōkubo 東京",
    });
  });
});

describe("line endings that change between lines", { timeout: 120_000 }, () => {
  it("CSV: CRLF, LF and CR lines parse alike, leaving no carriage return in any value; breaks inside quotes are kept", async () => {
    const { apiKey, acmeClient } = await newConnection();
    const a = uniqueEmail("eol-a");
    const b = uniqueEmail("eol-b");
    const c = uniqueEmail("eol-c");
    const d = uniqueEmail("eol-d");
    const csv =
      "firstName,lastName,email,title,notes\r\n" +
      `Ada,Crlf,${a},T1,N1\r\n` +
      `Bob,Lf,${b},T2,N2\n` +
      `Cy,Cr,${c},T3,N3\r` +
      `Di,Quoted,${d},T4,"line one\r\nline two"\n`;
    const job = await runImport(apiKey, csv, "text/csv");
    expect(job).toMatchObject({ total: 4, succeeded: 4, failed: 0 });
    const contacts = await acmeContacts(await tokenFor(acmeClient));
    const values = contacts.flatMap((contact) => Object.values(contact).filter((v) => typeof v === "string"));
    expect(values.filter((v) => /\r(?!\n)|\r$/.test(v as string))).toEqual([]);
    const notes = new Map(contacts.map((contact) => [contact.acme_email, contact.acme_notes]));
    expect([a, b, c].map((email) => notes.get(email))).toEqual(["N1", "N2", "N3"]);
    expect(notes.get(d)).toBe("line one\r\nline two");
  });

  it("NDJSON: CRLF, LF and lone CR all end a line", async () => {
    const { apiKey, acmeClient } = await newConnection();
    const emails = ["a", "b", "c"].map((label) => uniqueEmail(`nd-eol-${label}`));
    const lines = emails.map((email) => JSON.stringify({ firstName: "N", lastName: "D", email }));
    const job = await runImport(apiKey, `${lines[0]}\r\n${lines[1]}\r${lines[2]}\n`, "application/x-ndjson");
    expect(job).toMatchObject({ total: 3, succeeded: 3, failed: 0 });
    const stored = (await acmeContacts(await tokenFor(acmeClient))).map((c) => c.acme_email).sort();
    expect(stored).toEqual([...emails].sort());
  });
});
