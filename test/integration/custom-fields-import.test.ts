import { beforeAll, describe, expect, it } from "vitest";
import { acme, createClient, tokenFor, uniqueEmail } from "../acme/helpers.ts";
import { defineProperties, EVERY_TYPE_MAPPED, mapFields } from "./custom-field-helpers.ts";
import {
  api,
  type Contact,
  connect,
  contactsWithEmail,
  errorFields,
  expectProblem,
  newConnection,
  type PublicJob,
  type TestConnection,
  untilJob,
} from "./helpers.ts";

interface JobError {
  row: number;
  code: string;
  errors: { field: string; message: string }[];
}

let a: TestConnection;

beforeAll(async () => {
  a = await newConnection();
  await defineProperties(a);
  await mapFields(a.apiKey, EVERY_TYPE_MAPPED);
});

const NONE = { nickname: null, seats: null, vip: null, renewalDate: null, tier: null };

async function runImport(key: string, body: string, contentType: string): Promise<PublicJob> {
  const res = await api("/api/v1/imports", {
    key,
    method: "POST",
    body,
    headers: { "content-type": contentType },
  });
  expect(res.status, await res.clone().text()).toBe(202);
  return untilJob(key, (await res.json<PublicJob>()).id);
}

async function errorsOf(key: string, jobId: string): Promise<JobError[]> {
  const res = await api(`/api/v1/jobs/${jobId}/errors?limit=100`, { key });
  expect(res.status).toBe(200);
  return (await res.json<{ data: JobError[] }>()).data;
}

async function contactWith(email: string): Promise<Contact> {
  const [contact] = await contactsWithEmail(a.apiKey, email);
  expect(contact).toBeDefined();
  return contact as Contact;
}

describe("imports with custom fields", () => {
  it("CSV columns customFields.<name> set them, each cell read as its field's type; the same file again makes no new version", async () => {
    const [ada, grace] = [uniqueEmail("csv-ada"), uniqueEmail("csv-grace")];
    const file = [
      "email,firstName,lastName,customFields.tier,customFields.seats,customFields.vip,customFields.renewalDate,customFields.nickname",
      `${ada},Ada,Lovelace,gold,3,TRUE,2026-09-30,"Countess, of Lovelace"`,
      `${grace},Grace,Hopper,silver,-1.5e2,false,,`,
    ].join("\n");
    const job = await runImport(a.apiKey, file, "text/csv");
    expect(job).toMatchObject({ status: "succeeded", succeeded: 2, failed: 0 });
    const first = await contactWith(ada);
    expect(first.customFields).toEqual({
      tier: "gold",
      seats: 3,
      vip: true,
      renewalDate: "2026-09-30",
      nickname: "Countess, of Lovelace",
    });
    expect((await contactWith(grace)).customFields).toEqual({
      ...NONE,
      tier: "silver",
      seats: -150,
      vip: false,
    });
    const again = await runImport(a.apiKey, file, "text/csv");
    expect(again).toMatchObject({ status: "succeeded", succeeded: 2 });
    expect((await contactWith(ada)).version).toBe(first.version);
  });

  it("an empty cell clears the field on a contact that holds a value; columns left out keep theirs", async () => {
    const email = uniqueEmail("csv-clear");
    await runImport(
      a.apiKey,
      `email,firstName,lastName,customFields.seats,customFields.tier\n${email},A,B,7,gold`,
      "text/csv",
    );
    await runImport(a.apiKey, `email,firstName,lastName,customFields.seats\n${email},A,B,`, "text/csv");
    expect((await contactWith(email)).customFields).toEqual({ ...NONE, tier: "gold" });
  });

  it("a cell its field's type does not take fails its row alone, naming customFields.<name>", async () => {
    const [good, bad] = [uniqueEmail("csv-good"), uniqueEmail("csv-bad")];
    const job = await runImport(
      a.apiKey,
      `email,firstName,lastName,customFields.seats,customFields.tier\n${good},A,B,2,gold\n${bad},C,D,many,platinum`,
      "text/csv",
    );
    expect(job).toMatchObject({ status: "succeeded", succeeded: 1, failed: 1 });
    const [error] = await errorsOf(a.apiKey, job.id);
    expect(error).toMatchObject({ row: 2, code: "validation_failed" });
    expect(error?.errors.map((e) => e.field).sort()).toEqual(["customFields.seats", "customFields.tier"]);
    expect(await contactsWithEmail(a.apiKey, bad)).toEqual([]);
  });

  it("a column naming a custom field the connection does not map refuses the file (400 naming it), and starts no job", async () => {
    const res = await api("/api/v1/imports", {
      key: a.apiKey,
      method: "POST",
      body: `email,firstName,lastName,customFields.shoeSize,customFields.tier\n${uniqueEmail("x")},A,B,42,gold`,
      headers: { "content-type": "text/csv" },
    });
    const problem = await expectProblem(res, 400, "validation_failed");
    expect(errorFields(problem)).toEqual(["customFields.shoeSize"]);
  });

  it("NDJSON and JSON rows carry customFields objects, checked like a single create", async () => {
    const [one, two, three] = [uniqueEmail("nd1"), uniqueEmail("nd2"), uniqueEmail("js1")];
    const ndjson = [
      JSON.stringify({ email: one, firstName: "A", lastName: "B", customFields: { seats: 4, vip: true } }),
      JSON.stringify({
        email: two,
        firstName: "A",
        lastName: "B",
        customFields: { shoeSize: 42, seats: "4" },
      }),
    ].join("\n");
    const job = await runImport(a.apiKey, ndjson, "application/x-ndjson");
    expect(job).toMatchObject({ succeeded: 1, failed: 1 });
    expect((await contactWith(one)).customFields).toEqual({ ...NONE, seats: 4, vip: true });
    const [error] = await errorsOf(a.apiKey, job.id);
    expect(error?.errors.map((e) => e.field).sort()).toEqual(["customFields.seats", "customFields.shoeSize"]);
    const json = JSON.stringify({
      contacts: [{ email: three, firstName: "A", lastName: "B", customFields: { tier: "bronze" } }],
    });
    expect(await runImport(a.apiKey, json, "application/json")).toMatchObject({ succeeded: 1 });
    expect((await contactWith(three)).customFields).toEqual({ ...NONE, tier: "bronze" });
  });

  it("Acme's refusal of a row (an archived property) is named by the API's field", async () => {
    const connection = await newConnection();
    await defineProperties(connection, [{ name: "legacy_id", label: "Legacy id", type: "string" }]);
    await mapFields(connection.apiKey, { legacyId: { remote: "legacy_id" } });
    const res = await acme("/v1/properties/legacy_id", {
      token: await tokenFor(connection.acmeClient),
      method: "DELETE",
    });
    expect(res.status).toBe(204);
    const job = await runImport(
      connection.apiKey,
      `email,firstName,lastName,customFields.legacyId\n${uniqueEmail("arch")},A,B,L-1`,
      "text/csv",
    );
    expect(job).toMatchObject({ failed: 1 });
    const [error] = await errorsOf(connection.apiKey, job.id);
    expect(error?.errors.map((e) => e.field)).toEqual(["customFields.legacyId"]);
  });
});

describe("backfill keeps Acme's custom values", () => {
  it("a new connection's backfill records them raw: mapped later, the feed shows them", async () => {
    const acmeClient = await createClient();
    const token = await tokenFor(acmeClient);
    const defined = await acme("/v1/properties", {
      token,
      method: "POST",
      body: { name: "seats", label: "Seats", type: "number" },
    });
    expect(defined.status).toBe(201);
    const made = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: { acme_email: uniqueEmail("bf"), acme_custom: { seats: 11 } },
    });
    expect(made.status).toBe(201);
    const { id } = await made.json<{ id: string }>();
    const connection = await connect(acmeClient);
    await mapFields(connection.apiKey, { seats: { remote: "seats" } });
    const feed = await (await api("/api/v1/events?after=0", { key: connection.apiKey })).json<{
      data: { source: string; contact: Contact; changes: Record<string, unknown> }[];
    }>();
    const entry = feed.data.find((e) => e.contact.id === id);
    expect(entry).toMatchObject({ source: "backfill", contact: { customFields: { seats: 11 } } });
    expect(entry?.changes).toMatchObject({ "customFields.seats": { from: null, to: 11 } });
  });
});
