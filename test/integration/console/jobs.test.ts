import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { uniqueEmail } from "../../acme/helpers.ts";
import { dataOf, sqlIn } from "../connection-data-helpers.ts";
import { admin, api, BASE, newConnection, untilJob } from "../helpers.ts";
import { COOKIE_NAME, consoleFetch, postForm, type SignedIn, signIn } from "./helpers.ts";

/** A browser's multipart upload of one file to the console's import form. */
function upload(
  session: SignedIn,
  connectionId: string,
  file: File | null,
  options: { csrf?: string; origin?: string } = {},
): Promise<Response> {
  const form = new FormData();
  form.set("_csrf", options.csrf ?? session.csrf);
  if (file) form.set("file", file);
  return SELF.fetch(`${BASE}/console/connections/${connectionId}/jobs/import`, {
    method: "POST",
    headers: { cookie: `${COOKIE_NAME}=${session.cookie}`, origin: options.origin ?? BASE },
    body: form,
    redirect: "manual",
  });
}

/** A CSV of `count` contacts; every `badEvery`th row has an email Acme's rules refuse. */
function csv(count: number, badEvery = 0): string {
  const lines = ["firstName,lastName,email"];
  for (let i = 1; i <= count; i++) {
    const email = badEvery > 0 && i % badEvery === 0 ? "not-an-email" : uniqueEmail(`imp${i}`);
    lines.push(`Row,${i},${email}`);
  }
  return `${lines.join("\n")}\n`;
}

async function importJobs(connectionId: string): Promise<number> {
  const [row] = await sqlIn<{ n: number }>(
    connectionId,
    "SELECT count(*) AS n FROM jobs WHERE kind = 'import'",
  );
  return row?.n ?? 0;
}

async function page(session: SignedIn, path: string): Promise<string> {
  const res = await consoleFetch(path, { cookie: session.cookie });
  expect(res.status, path).toBe(200);
  return res.text();
}

describe("console: jobs", () => {
  it("starts an import from an uploaded CSV, shows it reach 100%, and pages its failed rows (>100 rows)", async () => {
    const connection = await newConnection();
    const session = await signIn();
    const file = new File([csv(150, 2)], "contacts.csv", { type: "text/csv" });
    const res = await upload(session, connection.connectionId, file);
    expect(res.status).toBe(303);
    const location = res.headers.get("location") ?? "";
    const jobId = /\/jobs\/(job_[a-z0-9]+)\?started=1$/.exec(location)?.[1];
    expect(jobId, location).toBeDefined();
    const job = await untilJob(connection.apiKey, jobId ?? "");
    expect(job).toMatchObject({
      kind: "import",
      status: "succeeded",
      total: 150,
      processed: 150,
      failed: 75,
    });

    const detail = await page(session, location);
    expect(detail).toContain(`Import ${jobId} started.`);
    expect(detail).toContain('data-percent="100"');
    // Succeeded with failed rows: said in words and in the warning colour, not plain success.
    expect(detail).toContain(
      '<span class="badge job-partial" data-job-status="succeeded">succeeded, 75 rows failed</span>',
    );
    expect(detail).not.toContain("hx-get"); // a finished job stops polling
    expect(detail).not.toContain(`Cancel job ${jobId}`);
    // Failed rows, 50 to a page, each once, in row order.
    const rows: number[] = [];
    let path: string | null = location;
    while (path) {
      const html = await page(session, path);
      rows.push(...[...html.matchAll(/data-error-row="(\d+)"/g)].map((m) => Number(m[1])));
      const next = /<a href="([^"]+)">More failed rows<\/a>/.exec(html)?.[1];
      path = next ? next.replace(/&amp;/g, "&") : null;
    }
    expect(rows).toEqual(Array.from({ length: 75 }, (_, i) => (i + 1) * 2));

    const list = await page(session, `/console/connections/${connection.connectionId}/jobs`);
    expect(list).toContain(`data-job-id="${jobId}"`);
    expect(list).toContain('aria-current="page">Jobs</a>');
    expect(list).toContain('enctype="multipart/form-data"');
    for (const secret of [connection.apiKey, connection.acmeClient.clientSecret, env.ADMIN_TOKEN]) {
      expect(list).not.toContain(secret);
      expect(detail).not.toContain(secret);
    }
  });

  it("polls while a job is active and cancels it through the admin API", async () => {
    const connection = await newConnection();
    const session = await signIn();
    // A queued job that no workflow runs, so it stays active for the test.
    const job = await dataOf(connection.connectionId).createJob(connection.connectionId, {
      kind: "import",
      rows: [],
      leaseMs: 60_000,
    });
    const table = await page(session, `/console/connections/${connection.connectionId}/jobs/table`);
    expect(table).toContain(`hx-get="/console/connections/${connection.connectionId}/jobs/table"`);
    expect(table).toContain('data-job-status="queued"');
    const detail = await page(session, `/console/connections/${connection.connectionId}/jobs/${job.id}`);
    expect(detail).toContain(
      `hx-get="/console/connections/${connection.connectionId}/jobs/${job.id}/progress"`,
    );

    const cancel = await postForm(
      session,
      `/console/connections/${connection.connectionId}/jobs/${job.id}/cancel`,
    );
    expect(cancel.status).toBe(303);
    expect(cancel.headers.get("location")).toMatch(/\?cancelled=1$/);
    const [stored] = await sqlIn(
      connection.connectionId,
      "SELECT cancel_requested FROM jobs WHERE id = ?",
      job.id,
    );
    expect(stored?.cancel_requested).toBe(1);
  });

  it("shows an import in which every row failed as failed, with why, on its page and in the list", async () => {
    const connection = await newConnection();
    const session = await signIn();
    const file = new File([csv(3, 1)], "bad.csv", { type: "text/csv" });
    const res = await upload(session, connection.connectionId, file);
    expect(res.status).toBe(303);
    const location = res.headers.get("location") ?? "";
    const jobId = /\/jobs\/(job_[a-z0-9]+)/.exec(location)?.[1] ?? "";
    expect(await untilJob(connection.apiKey, jobId)).toMatchObject({
      status: "failed",
      succeeded: 0,
      failed: 3,
    });

    const detail = await page(session, location);
    expect(detail).toContain('<span class="badge job-failed" data-job-status="failed">failed</span>');
    expect(detail).toContain("<dt>Why it failed</dt><dd>Every row failed (3 of 3); none succeeded.</dd>");
    expect(detail).not.toContain("job-succeeded");
    expect(detail).not.toContain("No row has failed.");
    const list = await page(session, `/console/connections/${connection.connectionId}/jobs`);
    expect(list).toMatch(new RegExp(`data-job-id="${jobId}">.*?data-job-status="failed">failed</span>`, "s"));
  });

  it("brings the failed rows with each progress answer, so the page never says none failed after some did", async () => {
    const connection = await newConnection();
    const session = await signIn();
    // A queued job that no workflow runs; its failures are written as a step would.
    const job = await dataOf(connection.connectionId).createJob(connection.connectionId, {
      kind: "import",
      rows: [],
      leaseMs: 60_000,
    });
    const base = `/console/connections/${connection.connectionId}/jobs/${job.id}`;
    const before = await page(session, `${base}/progress`);
    expect(before).toContain(
      '<section id="failed-rows" aria-labelledby="errors-heading" hx-swap-oob="true">',
    );
    expect(before).toContain("No row has failed.");

    await sqlIn(
      connection.connectionId,
      "INSERT INTO job_errors (job_id, row, email, code, errors) VALUES (?, 7, 'x', 'validation_failed', ?)",
      job.id,
      JSON.stringify([{ field: "email", message: "must be an email" }]),
    );
    await sqlIn(
      connection.connectionId,
      "UPDATE jobs SET processed = 20, failed = 1, total = 20 WHERE id = ?",
      job.id,
    );
    const after = await page(session, `${base}/progress`);
    expect(after).toContain("20 of 20 rows, 1 failed");
    expect(after).toContain('data-error-row="7"');
    expect(after).not.toContain("No row has failed.");
    // The poll keeps to the page of failed rows shown.
    const later = await page(session, `${base}?after=7`);
    expect(later).toContain(`hx-get="${base}/progress?after=7"`);
    expect(later).toContain("No more failed rows.");
    expect(await page(session, `${base}/progress?after=7`)).not.toContain('data-error-row="7"');
    // A malformed row position is refused, as on the page.
    const bad = await consoleFetch(`${base}/progress?after=seven`, { cookie: session.cookie });
    expect(bad.status).toBe(400);
  });

  it("refuses to cancel a finished job or another connection's job", async () => {
    const mine = await newConnection();
    const other = await newConnection();
    const session = await signIn();
    const res = await admin(`/connections/${other.connectionId}/backfill`, { method: "POST" });
    const job = await untilJob(other.apiKey, (await res.json<{ id: string }>()).id);
    expect(job.status).toBe("succeeded");
    const finished = await postForm(
      session,
      `/console/connections/${other.connectionId}/jobs/${job.id}/cancel`,
    );
    expect(finished.status).toBe(409);
    expect(finished.headers.get("content-type")).toMatch(/^text\/html/);
    const elsewhere = await postForm(
      session,
      `/console/connections/${mine.connectionId}/jobs/${job.id}/cancel`,
    );
    expect(elsewhere.status).toBe(404);
    expect(
      (
        await consoleFetch(`/console/connections/${mine.connectionId}/jobs/${job.id}`, {
          cookie: session.cookie,
        })
      ).status,
    ).toBe(404);
  });

  it("shows what is wrong with an upload: no file, a type it cannot read, rows it cannot parse", async () => {
    const connection = await newConnection();
    const session = await signIn();
    const none = await upload(session, connection.connectionId, null);
    expect(none.status).toBe(400);
    expect(await none.text()).toContain("Choose a file to import.");
    const text = await upload(
      session,
      connection.connectionId,
      new File(["hello"], "notes.txt", { type: "text/plain" }),
    );
    expect(text.status).toBe(415);
    const json = await upload(
      session,
      connection.connectionId,
      new File(['{"contacts": 5}'], "contacts.json", { type: "application/json" }),
    );
    expect(json.status).toBe(400);
    expect(json.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await importJobs(connection.connectionId)).toBe(0);
  });

  it("refuses an upload from another site or without the session's CSRF token, and starts no job", async () => {
    const connection = await newConnection();
    const session = await signIn();
    const file = () => new File([csv(3)], "contacts.csv", { type: "text/csv" });
    expect(
      (await upload(session, connection.connectionId, file(), { origin: "https://evil.example" })).status,
    ).toBe(403);
    expect((await upload(session, connection.connectionId, file(), { csrf: "forged" })).status).toBe(403);
    expect(await importJobs(connection.connectionId)).toBe(0);
  });

  it("takes a file larger than the API's body limit, up to the import limit, and refuses one over it", async () => {
    const connection = await newConnection();
    const session = await signIn();
    const body = csv(2000);
    expect(body.length).toBeGreaterThan(65_536);
    const res = await upload(
      session,
      connection.connectionId,
      new File([body], "big.csv", { type: "text/csv" }),
    );
    expect(res.status).toBe(303);
    const jobId = /\/jobs\/(job_[a-z0-9]+)/.exec(res.headers.get("location") ?? "")?.[1] ?? "";
    const started = await api(`/api/v1/jobs/${jobId}`, { key: connection.apiKey });
    expect((await started.json<{ total: number }>()).total).toBe(2000);
    // Stop it: the rows' trip to Acme is not what this test is about.
    await api(`/api/v1/jobs/${jobId}/cancel`, { key: connection.apiKey, method: "POST" });
    await untilJob(connection.apiKey, jobId);
    const huge = new File([new Uint8Array(5_242_880 + 20_000).fill(65)], "huge.csv", { type: "text/csv" });
    expect((await upload(session, connection.connectionId, huge)).status).toBe(413);
  }, 60_000);
});
