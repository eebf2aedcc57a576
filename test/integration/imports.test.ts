import { describe, expect, it } from "vitest";
import { finishedStatus } from "../../src/integration/jobs/job-store.ts";
import { acme, acmeContacts, tokenFor, uniqueEmail } from "../acme/helpers.ts";
import { dataOf } from "./connection-data-helpers.ts";
import { api, errorFields, expectProblem, newConnection, type PublicJob, untilJob } from "./helpers.ts";

interface JobError {
  row: number;
  email?: string | null;
  code: string;
  errors: { field: string; message: string }[];
}

interface Person {
  firstName: string;
  lastName: string;
  email: string;
  company: string;
}

function csv(rows: Person[], columns = ["firstName", "lastName", "email", "company"]): string {
  const quote = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  return [
    columns.join(","),
    ...rows.map((r) => columns.map((c) => quote(r[c as keyof Person] ?? "")).join(",")),
  ].join("\r\n");
}

function people(count: number, label: string): Person[] {
  return Array.from({ length: count }, (_, i) => ({
    firstName: `First ${i}`,
    lastName: "Importer",
    email: uniqueEmail(`${label}${i}`),
    company: i % 2 === 0 ? "Acme, Inc." : "",
  }));
}

async function startImport(key: string, body: string, contentType: string): Promise<PublicJob> {
  const res = await api("/api/v1/imports", {
    key,
    method: "POST",
    body,
    headers: { "content-type": contentType },
  });
  expect(res.status).toBe(202);
  const job = await res.json<PublicJob>();
  expect(res.headers.get("location")).toBe(`/api/v1/jobs/${job.id}`);
  expect(job).toMatchObject({ kind: "import", status: "queued", processed: 0 });
  return job;
}

async function allErrors(key: string, jobId: string, limit: number): Promise<JobError[]> {
  const out: JobError[] = [];
  let cursor = 0;
  for (;;) {
    const res = await api(`/api/v1/jobs/${jobId}/errors?limit=${limit}&cursor=${cursor}`, { key });
    expect(res.status).toBe(200);
    const page = await res.json<{ data: JobError[]; nextCursor: number | null }>();
    out.push(...page.data);
    if (page.nextCursor === null) return out;
    cursor = page.nextCursor;
  }
}

/** Takes one write at Acme (a create Acme refuses) and reads how many writes the window has left. */
async function writesLeft(token: string): Promise<number> {
  const res = await acme("/v1/contacts", { token, method: "POST", body: {} });
  expect(res.status).toBe(400);
  return Number(/r=(\d+)/.exec(res.headers.get("ratelimit") ?? "")?.[1]);
}

// Imports of 100+ rows through the in-process Acme take a while on a shared machine.
describe("POST /api/v1/imports", { timeout: 120_000 }, () => {
  it("upserts 150 CSV rows by email: creates the new, updates the changed, leaves the same, fails bad rows alone", async () => {
    // A long write window, so the probe below counts every write the imports make.
    const { apiKey, acmeClient } = await newConnection({
      rateLimits: { write: { limit: 10_000, windowSeconds: 3600 } },
    });
    const token = await tokenFor(acmeClient);
    const rows = people(150, "csv");
    // Two contacts already at Acme: one differs only in the company, one is exactly the row
    // (its email in other letter case).
    const existing = rows[3] as Person;
    const changed = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: {
        acme_email: existing.email,
        acme_first_name: existing.firstName,
        acme_last_name: "Importer",
        acme_company: "Old Co",
      },
    });
    expect(changed.status).toBe(201);
    const same = rows[4] as Person;
    const sameAtAcme = await acme("/v1/contacts", {
      token,
      method: "POST",
      body: {
        acme_email: same.email.toUpperCase(),
        acme_first_name: same.firstName,
        acme_last_name: "Importer",
        acme_company: same.company,
      },
    });
    expect(sameAtAcme.status).toBe(201);
    // Two bad rows: a missing last name and a malformed email.
    (rows[10] as Person).lastName = "";
    (rows[77] as Person).email = "not-an-email";

    const job = await startImport(apiKey, csv(rows), "text/csv; charset=utf-8");
    const done = await untilJob(apiKey, job.id);
    expect(done).toMatchObject({
      status: "succeeded",
      total: 150,
      processed: 150,
      succeeded: 148,
      failed: 2,
    });
    expect(done.finishedAt).toEqual(expect.any(String));

    const errors = await allErrors(apiKey, job.id, 1);
    expect(errors).toEqual([
      {
        row: 11,
        email: rows[10]?.email,
        code: "validation_failed",
        errors: [{ field: "lastName", message: expect.any(String) }],
      },
      {
        row: 78,
        email: "not-an-email",
        code: "validation_failed",
        errors: [{ field: "email", message: expect.any(String) }],
      },
    ]);

    const atAcme = await acmeContacts(token);
    expect(atAcme).toHaveLength(148);
    expect(new Set(atAcme.map((c) => c.acme_email.toLowerCase())).size).toBe(148);
    const byEmail = new Map(atAcme.map((c) => [c.acme_email.toLowerCase(), c]));
    expect(byEmail.get(existing.email)).toMatchObject({ acme_company: null, acme_version: 2 });
    expect(byEmail.get(same.email)?.acme_version).toBe(1);
    expect(byEmail.get(rows[1]?.email as string)).toMatchObject({ acme_company: null, acme_version: 1 });

    // The same file again: nothing to write, so no new version and no write quota spent.
    const before = await writesLeft(token);
    const again = await untilJob(apiKey, (await startImport(apiKey, csv(rows), "text/csv")).id);
    expect(again).toMatchObject({ status: "succeeded", processed: 150, succeeded: 148, failed: 2 });
    expect(await writesLeft(token)).toBe(before - 1);
    const afterAgain = await acmeContacts(token);
    expect(afterAgain.map((c) => [c.id, c.acme_version]).sort()).toEqual(
      atAcme.map((c) => [c.id, c.acme_version]).sort(),
    );
  });

  it("takes NDJSON and JSON bodies; a row that is not an object or has unknown fields fails alone", async () => {
    const { apiKey, acmeClient } = await newConnection();
    const rows = people(120, "nd").map(({ company, ...rest }) => rest);
    const lines = rows.map((r) => JSON.stringify(r));
    lines.splice(
      5,
      0,
      "[1, 2]",
      "",
      JSON.stringify({ ...rows[0], email: uniqueEmail("x"), acme_email: "x@y.z" }),
    );
    const ndjson = await untilJob(
      apiKey,
      (await startImport(apiKey, `${lines.join("\n")}\n`, "application/x-ndjson")).id,
    );
    expect(ndjson).toMatchObject({ status: "succeeded", total: 122, succeeded: 120, failed: 2 });
    const errors = await allErrors(apiKey, ndjson.id, 100);
    expect(errors.map((e) => [e.row, e.code, e.errors.map((f) => f.field)])).toEqual([
      [6, "validation_failed", ["body"]],
      [7, "validation_failed", ["acme_email"]],
    ]);
    expect(errors[1]?.errors[0]?.message).toBe("unknown field");

    const json = {
      contacts: [
        ...rows.slice(0, 2).map((r) => ({ ...r, title: "CTO" })),
        { firstName: "No", lastName: "Email" },
      ],
    };
    const fromJson = await untilJob(
      apiKey,
      (await startImport(apiKey, JSON.stringify(json), "application/json")).id,
    );
    expect(fromJson).toMatchObject({ status: "succeeded", total: 3, succeeded: 2, failed: 1 });
    const contacts = await acmeContacts(await tokenFor(acmeClient));
    expect(contacts).toHaveLength(120);
    expect(
      contacts.filter((c) => (c as unknown as { acme_title: string | null }).acme_title === "CTO"),
    ).toHaveLength(2);
  });

  it("ends an import in which every row failed as failed, not succeeded; one good row is enough to succeed", async () => {
    const { apiKey, connectionId } = await newConnection();
    const bad = [1, 2, 3].map((i) => ({ ...people(1, `bad${i}`)[0], email: "not-an-email" }) as Person);
    const allBad = await untilJob(apiKey, (await startImport(apiKey, csv(bad), "text/csv")).id);
    expect(allBad).toMatchObject({ status: "failed", total: 3, processed: 3, succeeded: 0, failed: 3 });
    expect((await allErrors(apiKey, allBad.id, 10)).map((e) => e.row)).toEqual([1, 2, 3]);
    const stored = await dataOf(connectionId).findJob(allBad.id);
    expect(stored?.failure).toBe("Every row failed (3 of 3); none succeeded.");

    const oneGood = await untilJob(
      apiKey,
      (await startImport(apiKey, csv([...bad, ...people(1, "good")]), "text/csv")).id,
    );
    expect(oneGood).toMatchObject({ status: "succeeded", processed: 4, succeeded: 1, failed: 3 });
  });

  it("refuses bodies it cannot read: 415, 400 and 413 as problem+json, with no job started", async () => {
    const { apiKey } = await newConnection();
    const post = (body: string, type: string) =>
      api("/api/v1/imports", { key: apiKey, method: "POST", body, headers: { "content-type": type } });

    await expectProblem(await post("firstName\nAda", "text/plain"), 415, "unsupported_media_type");
    await expectProblem(
      await post('firstName,lastName,email\n"Ada,Lovelace,a@b.c\n', "text/csv"),
      400,
      "validation_failed",
    );
    const unknownColumn = await expectProblem(
      await post("firstName,lastName,email,acme_email\nA,B,a@b.c,x", "text/csv"),
      400,
      "validation_failed",
    );
    expect(unknownColumn.errors).toEqual([{ field: "acme_email", message: "unknown field" }]);
    await expectProblem(await post("firstName,lastName\nA,B", "text/csv"), 400, "validation_failed");
    await expectProblem(
      await post('{"firstName":"A"}\n{oops}\n', "application/x-ndjson"),
      400,
      "invalid_json",
    );
    await expectProblem(await post('{"contacts": [', "application/json"), 400, "invalid_json");
    await expectProblem(await post('[{"firstName":"A"}]', "application/json"), 400, "validation_failed");
    await expectProblem(
      await post('{"contacts": [], "extra": 1}', "application/json"),
      400,
      "validation_failed",
    );
    await expectProblem(await post('{"contacts": []}', "application/json"), 400, "validation_failed");
    await expectProblem(await post("firstName,lastName,email\n", "text/csv"), 400, "validation_failed");

    const tooMany = Array.from({ length: 10_001 }, (_, i) => `{"email":"p${i}@e.x"}`).join("\n");
    await expectProblem(await post(tooMany, "application/x-ndjson"), 413, "payload_too_large");
    const tooManyCsv = `email\n${Array.from({ length: 10_001 }, (_, i) => `p${i}@e.x`).join("\n")}`;
    await expectProblem(await post(tooManyCsv, "text/csv"), 413, "payload_too_large");
    const huge = `email,notes\n${`a@b.c,${"x".repeat(9000)}\n`.repeat(600)}`;
    await expectProblem(await post(huge, "text/csv"), 413, "payload_too_large");

    await expectProblem(
      await api("/api/v1/imports", {
        method: "POST",
        body: "email\na@b.c",
        headers: { "content-type": "text/csv" },
      }),
      401,
      "unauthorized",
    );
    const listed = await api("/api/v1/jobs", { key: apiKey });
    expect((await listed.json<{ data: PublicJob[] }>()).data.filter((j) => j.kind === "import")).toEqual([]);
  });

  it("paces writes at a small Acme quota (10 writes a second) without one 429 at Acme", async () => {
    const { apiKey, acmeClient } = await newConnection({
      rateLimits: { write: { limit: 10, windowSeconds: 1 } },
    });
    const rows = people(40, "paced");
    const job = await untilJob(apiKey, (await startImport(apiKey, csv(rows), "text/csv")).id);
    expect(job).toMatchObject({ status: "succeeded", succeeded: 40, failed: 0 });
    expect(await acmeContacts(await tokenFor(acmeClient))).toHaveLength(40);
    const status = await (await api("/api/v1/status", { key: apiKey })).json<{
      counters: { acme429s: number };
    }>();
    expect(status.counters.acme429s).toBe(0);
  });
});

describe("jobs", { timeout: 120_000 }, () => {
  it("cancel stops an import after the step in flight; what it wrote stays, nothing more is written", async () => {
    // Five writes a window for background work: the import needs many steps and waits between them.
    const { apiKey, acmeClient } = await newConnection({
      rateLimits: { write: { limit: 10, windowSeconds: 2 } },
    });
    const job = await startImport(apiKey, csv(people(150, "cancel")), "text/csv");
    await untilJob(apiKey, job.id, (j) => j.processed > 0);
    const res = await api(`/api/v1/jobs/${job.id}/cancel`, { key: apiKey, method: "POST" });
    expect(res.status).toBe(202);
    const cancelled = await untilJob(apiKey, job.id);
    expect(cancelled.status).toBe("cancelled");
    expect(cancelled.processed).toBeLessThan(150);
    expect(cancelled.finishedAt).toEqual(expect.any(String));
    expect(await acmeContacts(await tokenFor(acmeClient))).toHaveLength(cancelled.succeeded);

    await expectProblem(
      await api(`/api/v1/jobs/${job.id}/cancel`, { key: apiKey, method: "POST" }),
      409,
      "conflict",
    );
  });

  it("lists the connection's jobs newest first, paged; another connection's job is 404 everywhere", async () => {
    const owner = await newConnection();
    const other = await newConnection();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const job = await startImport(
        owner.apiKey,
        `email,firstName,lastName\n${uniqueEmail()},A,B`,
        "text/csv",
      );
      ids.push(job.id);
      await untilJob(owner.apiKey, job.id);
    }
    const first = await (await api("/api/v1/jobs?limit=2", { key: owner.apiKey })).json<{
      data: PublicJob[];
      nextCursor: string;
    }>();
    expect(first.data.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    const second = await (
      await api(`/api/v1/jobs?limit=2&cursor=${first.nextCursor}`, { key: owner.apiKey })
    ).json<{
      data: PublicJob[];
      nextCursor: string | null;
    }>();
    expect(second.data.map((j) => j.id)).toEqual([ids[0], expect.any(String)]);
    expect(second.data[1]?.kind).toBe("backfill");

    const id = ids[0] as string;
    for (const [path, method] of [
      [`/api/v1/jobs/${id}`, "GET"],
      [`/api/v1/jobs/${id}/errors`, "GET"],
      [`/api/v1/jobs/${id}/cancel`, "POST"],
    ] as const) {
      await expectProblem(await api(path, { key: other.apiKey, method }), 404, "not_found");
      await expectProblem(await api(path, { method }), 401, "unauthorized");
    }
    const otherList = await (await api("/api/v1/jobs", { key: other.apiKey })).json<{ data: PublicJob[] }>();
    expect(otherList.data.map((j) => j.id)).not.toContain(id);
    await expectProblem(
      await api("/api/v1/jobs?cursor=1%20OR%201", { key: owner.apiKey }),
      400,
      "validation_failed",
    );
    await expectProblem(await api("/api/v1/jobs/job_nope", { key: owner.apiKey }), 404, "not_found");
  });

  it("pages a job's errors by a cursor of digits: empty, null or a word is 400 naming cursor, as documented", async () => {
    const { apiKey } = await newConnection();
    const job = await untilJob(
      apiKey,
      (await startImport(apiKey, '{"contacts": [1, {"email": "no-names@example.com"}]}', "application/json"))
        .id,
    );
    expect(job).toMatchObject({ total: 2, failed: 2 });
    const rows = async (query: string) => {
      const res = await api(`/api/v1/jobs/${job.id}/errors?${query}`, { key: apiKey });
      expect(res.status, query).toBe(200);
      return (await res.json<{ data: JobError[] }>()).data.map((e) => e.row);
    };
    expect(await rows("")).toEqual([1, 2]);
    expect(await rows("cursor=0")).toEqual([1, 2]);
    expect(await rows("cursor=1")).toEqual([2]);
    for (const query of ["cursor=", "cursor=null", "cursor=one", "cursor=-1", "cursor=1.5"]) {
      const res = await api(`/api/v1/jobs/${job.id}/errors?${query}`, { key: apiKey });
      expect(errorFields(await expectProblem(res, 400, "validation_failed")), query).toEqual(["cursor"]);
    }
    const doc = await (await api("/api/openapi.json")).json<{
      paths: Record<string, { get: { parameters: { name: string; schema: unknown }[] } }>;
    }>();
    const cursor = doc.paths["/api/v1/jobs/{id}/errors"]?.get.parameters.find((p) => p.name === "cursor");
    expect(cursor?.schema).toMatchObject({ type: "integer", minimum: 0 });
  });

  it("documents the JSON import as the parser reads it: closed at the top, any value as a row", async () => {
    const doc = await (await api("/api/openapi.json")).json<{
      components: {
        schemas: Record<
          string,
          { additionalProperties?: boolean; properties: { contacts: { items: object } } }
        >;
      };
    }>();
    const body = doc.components.schemas.ImportBody;
    expect(body?.additionalProperties).toBe(false);
    // Rows are validated one by one when the job runs (tests above): the body's schema leaves them open.
    expect(body?.properties).toMatchObject({
      contacts: { type: "array", minItems: 1, maxItems: 10_000, items: { description: expect.any(String) } },
    });
    expect(Object.keys(body?.properties.contacts.items ?? {})).toEqual(["description"]);
  });

  it("counts a repeated step once: the checkpoint moves only from where the step started", async () => {
    const { connectionId } = await newConnection();
    const data = dataOf(connectionId);
    const row = await data.createJob(connectionId, { kind: "import", rows: [], leaseMs: 60_000 });
    await data.markRunning(row.id, new Date());
    const progress = {
      from: null,
      to: "cursor-1",
      processed: 100,
      succeeded: 100,
      failed: 0,
      errors: [],
      leaseUntil: 0,
    };
    expect(await data.commitProgress(row.id, progress)).toBe(true);
    expect(await data.commitProgress(row.id, progress)).toBe(false);
    expect(await data.findJob(row.id)).toMatchObject({ processed: 100, checkpoint: "cursor-1" });
  });
});

describe("the status a job ends in", () => {
  it("is failed when rows were processed and none succeeded; as asked otherwise", () => {
    expect(finishedStatus("succeeded", { processed: 2, succeeded: 0, failed: 2 })).toEqual({
      status: "failed",
      failure: "Every row failed (2 of 2); none succeeded.",
    });
    expect(finishedStatus("succeeded", { processed: 3, succeeded: 1, failed: 2 }).status).toBe("succeeded");
    // Nothing to do (an empty backfill) is not a failure.
    expect(finishedStatus("succeeded", { processed: 0, succeeded: 0, failed: 0 }).status).toBe("succeeded");
    expect(finishedStatus("cancelled", { processed: 2, succeeded: 0, failed: 2 })).toEqual({
      status: "cancelled",
      failure: null,
    });
  });
});
