import type { Context } from "hono";
import { loadJobConfig } from "../jobs/config.ts";
import { IMPORT_MEDIA_TYPES, type ImportMediaType, MAX_IMPORT_ROWS } from "../jobs/import-parser.ts";
import { findJob, listJobErrors, listJobs, type PublicJob, toPublicJob } from "../jobs/job-store.ts";
import { problemDetail } from "./admin-api.ts";
import { connectionHealth } from "./connection-health.ts";
import { ConnectionTabs } from "./connection-views.tsx";
import { type ConsoleEnv, createConsoleRouter } from "./context.ts";
import { ConsoleError } from "./errors.tsx";
import { ActionButton, CsrfField, NextPageLink, type Notice, Page, ScrollTable, Time } from "./layout.tsx";
import { keysetPage } from "./paging.ts";

/** Jobs are listed this many to a page, newest first. */
export const JOBS_PAGE_SIZE = 20;
/** A job's failed rows are listed this many to a page, in row order. */
export const JOB_ERRORS_PAGE_SIZE = 50;
/** How often a page with a job still running asks for its progress. */
const POLL_EVERY = "1s";

const ACTIVE = new Set<PublicJob["status"]>(["queued", "running"]);

/** The media type of an uploaded file: the browser's, else from its name's extension. */
export function uploadMediaType(file: File): ImportMediaType | null {
  const declared = file.type.split(";")[0]?.trim().toLowerCase() ?? "";
  if ((IMPORT_MEDIA_TYPES as readonly string[]).includes(declared)) return declared as ImportMediaType;
  const name = file.name.toLowerCase();
  if (name.endsWith(".csv")) return "text/csv";
  if (name.endsWith(".ndjson") || name.endsWith(".jsonl")) return "application/x-ndjson";
  if (name.endsWith(".json")) return "application/json";
  return null;
}

function percent(job: PublicJob): number | null {
  if (job.status === "succeeded") return 100;
  if (job.total === null || job.total === 0) return null;
  return Math.min(100, Math.floor((job.processed / job.total) * 100));
}

/** A job's progress bar with its figures as text (the bar's accessible name says which job). */
function JobProgress({ job }: { job: PublicJob }) {
  const pct = percent(job);
  return (
    <span class="job-progress" data-job-progress={job.id} data-percent={pct === null ? "" : String(pct)}>
      <progress
        max={100}
        value={pct ?? undefined}
        aria-label={`Progress of job ${job.id}`}
        aria-valuetext={pct === null ? "unknown" : `${pct}%`}
      >
        {pct === null ? "?" : `${pct}%`}
      </progress>{" "}
      {pct === null ? "" : `${pct}% · `}
      {job.processed}
      {job.total === null ? "" : ` of ${job.total}`} rows, {job.failed} failed
      {ACTIVE.has(job.status) && job.etaSeconds !== null ? `, about ${job.etaSeconds} s left` : ""}
    </span>
  );
}

function Status({ job }: { job: PublicJob }) {
  return (
    <span class={`badge job-${job.status}`} data-job-status={job.status}>
      {job.status}
    </span>
  );
}

/**
 * The jobs table. While a job on it is queued or running, it asks for itself again every second
 * (htmx), so the bars move; once none is, it stops asking.
 */
function JobsTable(props: { connectionId: string; jobs: PublicJob[]; before?: string | undefined }) {
  const live = props.jobs.some((job) => ACTIVE.has(job.status));
  const self = `/console/connections/${props.connectionId}/jobs/table${
    props.before ? `?before=${encodeURIComponent(props.before)}` : ""
  }`;
  return (
    <div
      id="jobs-table"
      {...(live ? { "hx-get": self, "hx-trigger": `every ${POLL_EVERY}`, "hx-swap": "outerHTML" } : {})}
    >
      {props.jobs.length === 0 ? (
        <p>No jobs yet.</p>
      ) : (
        <ScrollTable label="Jobs">
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
              <th scope="col">Progress</th>
              <th scope="col">Created</th>
              <th scope="col">Finished</th>
            </tr>
          </thead>
          <tbody>
            {props.jobs.map((job) => (
              <tr data-job-id={job.id}>
                <th scope="row">
                  <a href={`/console/connections/${props.connectionId}/jobs/${job.id}`}>{job.id}</a>
                </th>
                <td>{job.kind}</td>
                <td>
                  <Status job={job} />
                </td>
                <td>
                  <JobProgress job={job} />
                </td>
                <td>
                  <Time iso={job.createdAt} />
                </td>
                <td>
                  <Time iso={job.finishedAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </ScrollTable>
      )}
    </div>
  );
}

async function jobsPage(env: Env, connectionId: string, before: string | undefined) {
  const rows = await listJobs(env.DB, connectionId, { limit: JOBS_PAGE_SIZE + 1, before });
  const now = Date.now();
  return keysetPage(
    rows.map((row) => toPublicJob(row, now)),
    JOBS_PAGE_SIZE,
    (job) => job.id,
  );
}

function jobCursor(value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  if (!/^job_[a-z0-9]+$/.test(value) || value.length > 64) {
    throw new ConsoleError(400, "The page position is not a job id.");
  }
  return value;
}

async function renderJobsPage(c: Context<ConsoleEnv>, notice?: Notice, status?: 400 | 413 | 415) {
  const found = await connectionHealth(c.env, c.req.param("id") ?? "");
  if (!found) throw new ConsoleError(404, "There is no such connection.");
  const id = found.row.id;
  const before = jobCursor(c.req.query("before"));
  const { data, next } = await jobsPage(c.env, id, before);
  const maxBytes = loadJobConfig(c.env).importMaxBodyBytes;
  return c.html(
    <Page
      title={`${found.row.name}: jobs`}
      operator={c.var.operator}
      path="/console/connections"
      notice={notice}
    >
      <ConnectionTabs id={id} current="jobs" />
      <section aria-labelledby="import-heading">
        <h2 id="import-heading">Import contacts from a file</h2>
        <p class="muted">
          CSV with a header row of API field names (firstName, lastName, email, ...), NDJSON, or JSON (
          <code>{'{"contacts": [...]}'}</code>); up to {MAX_IMPORT_ROWS} rows and{" "}
          {Math.floor(maxBytes / 1024)} KiB. Contacts are matched by email; each row fails alone.
        </p>
        <form
          method="post"
          action={`/console/connections/${id}/jobs/import`}
          enctype="multipart/form-data"
          class="stack"
        >
          <CsrfField operator={c.var.operator} />
          <label for="import-file">File to import</label>
          <input
            id="import-file"
            name="file"
            type="file"
            required
            accept=".csv,.ndjson,.jsonl,.json,text/csv,application/x-ndjson,application/json"
          />
          <button type="submit">Start the import</button>
        </form>
      </section>
      <section aria-labelledby="jobs-heading">
        <h2 id="jobs-heading">Jobs</h2>
        <JobsTable connectionId={id} jobs={data} before={before} />
        <NextPageLink
          href={next ? `/console/connections/${id}/jobs?before=${encodeURIComponent(next)}` : null}
          label="Older jobs"
        />
      </section>
    </Page>,
    status ?? 200,
  );
}

/** One job: its progress (live while it runs), cancel, and its failed rows, paged in row order. */
function JobDetail(props: {
  connectionId: string;
  job: PublicJob;
  operator: ConsoleEnv["Variables"]["operator"];
}) {
  const { job } = props;
  const live = ACTIVE.has(job.status);
  const self = `/console/connections/${props.connectionId}/jobs/${job.id}/progress`;
  return (
    <section
      id="job-detail"
      aria-label="Progress"
      {...(live ? { "hx-get": self, "hx-trigger": `every ${POLL_EVERY}`, "hx-swap": "outerHTML" } : {})}
    >
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <Status job={job} />
        </dd>
        <dt>Progress</dt>
        <dd>
          <JobProgress job={job} />
        </dd>
        <dt>Succeeded</dt>
        <dd>{job.succeeded}</dd>
        <dt>Started</dt>
        <dd>
          <Time iso={job.startedAt} />
        </dd>
        <dt>Finished</dt>
        <dd>
          <Time iso={job.finishedAt} />
        </dd>
      </dl>
      {live ? (
        <ActionButton
          operator={props.operator}
          action={`/console/connections/${props.connectionId}/jobs/${job.id}/cancel`}
          label="Cancel"
          name={`Cancel job ${job.id}`}
          variant="danger"
        />
      ) : null}
    </section>
  );
}

async function jobOr404(c: Context<ConsoleEnv>) {
  const connectionId = c.req.param("id") ?? "";
  const jobId = c.req.param("jobId") ?? "";
  const row = await findJob(c.env.DB, connectionId, jobId);
  if (!row) throw new ConsoleError(404, "There is no such job.");
  return { connectionId, job: toPublicJob(row) };
}

function errorCursor(value: string | undefined): number {
  if (value === undefined || value === "") return 0;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ConsoleError(400, "The row position must be a whole number.");
  return n;
}

/** A connection's jobs: progress bars that move while a job runs, a job's failed rows, cancel, and an import from a file. */
export const jobRouter = createConsoleRouter()
  .get("/:id/jobs", (c) => renderJobsPage(c))
  .get("/:id/jobs/table", async (c) => {
    const id = c.req.param("id");
    const before = jobCursor(c.req.query("before"));
    const { data } = await jobsPage(c.env, id, before);
    return c.html(<JobsTable connectionId={id} jobs={data} before={before} />);
  })
  .post("/:id/jobs/import", async (c) => {
    const id = c.req.param("id");
    const form = await c.req.parseBody();
    const file = form.file;
    if (!(file instanceof File) || file.size === 0) {
      return renderJobsPage(c, { kind: "alert", text: "Choose a file to import." }, 400);
    }
    const contentType = uploadMediaType(file);
    if (!contentType) {
      return renderJobsPage(
        c,
        { kind: "alert", text: "The file must be CSV (.csv), NDJSON (.ndjson) or JSON (.json)." },
        415,
      );
    }
    const res = await c.var.adminApi(
      "POST",
      `/api/v1/admin/connections/${encodeURIComponent(id)}/imports`,
      undefined,
      { contentType, data: file },
    );
    if (res.status === 404) throw new ConsoleError(404, "There is no such connection.");
    if (res.status !== 202) {
      const status = res.status === 413 || res.status === 415 ? res.status : 400;
      return renderJobsPage(c, { kind: "alert", text: problemDetail(res.body) }, status);
    }
    const job = res.body as PublicJob;
    return c.redirect(`/console/connections/${id}/jobs/${job.id}?started=1`, 303);
  })
  .get("/:id/jobs/:jobId", async (c) => {
    const { connectionId, job } = await jobOr404(c);
    const found = await connectionHealth(c.env, connectionId);
    const after = errorCursor(c.req.query("after"));
    const rows = await listJobErrors(c.env.DB, job.id, { after, limit: JOB_ERRORS_PAGE_SIZE + 1 });
    const { data, next } = keysetPage(rows, JOB_ERRORS_PAGE_SIZE, (e) => e.row);
    const notice: Notice | undefined =
      c.req.query("started") !== undefined
        ? { kind: "status", text: `Import ${job.id} started.` }
        : c.req.query("cancelled") !== undefined
          ? { kind: "status", text: `Job ${job.id} stops after the step in flight.` }
          : undefined;
    return c.html(
      <Page
        title={`${found?.row.name ?? connectionId}: job ${job.id}`}
        operator={c.var.operator}
        path="/console/connections"
        notice={notice}
      >
        <ConnectionTabs id={connectionId} current="jobs" />
        <p>
          <a href={`/console/connections/${connectionId}/jobs`}>All jobs</a> · {job.kind}, created{" "}
          <Time iso={job.createdAt} />
        </p>
        <JobDetail connectionId={connectionId} job={job} operator={c.var.operator} />
        <section aria-labelledby="errors-heading">
          <h2 id="errors-heading">Failed rows</h2>
          {data.length === 0 ? (
            <p>{after === 0 ? "No row has failed." : "No more failed rows."}</p>
          ) : (
            <ScrollTable label="Failed rows">
              <thead>
                <tr>
                  <th scope="col">Row</th>
                  <th scope="col">Email</th>
                  <th scope="col">Code</th>
                  <th scope="col">What is wrong</th>
                </tr>
              </thead>
              <tbody>
                {data.map((e) => (
                  <tr data-error-row={String(e.row)}>
                    <th scope="row">{e.row}</th>
                    <td>{e.email ?? <span class="muted">none</span>}</td>
                    <td>
                      <code>{e.code}</code>
                    </td>
                    <td>
                      <ul class="plain">
                        {e.errors.map((f) => (
                          <li>
                            <code>{f.field}</code>: {f.message}
                          </li>
                        ))}
                      </ul>
                    </td>
                  </tr>
                ))}
              </tbody>
            </ScrollTable>
          )}
          <NextPageLink
            href={next !== null ? `/console/connections/${connectionId}/jobs/${job.id}?after=${next}` : null}
            label="More failed rows"
          />
        </section>
      </Page>,
    );
  })
  .get("/:id/jobs/:jobId/progress", async (c) => {
    const { connectionId, job } = await jobOr404(c);
    return c.html(<JobDetail connectionId={connectionId} job={job} operator={c.var.operator} />);
  })
  .post("/:id/jobs/:jobId/cancel", async (c) => {
    const connectionId = c.req.param("id");
    const jobId = c.req.param("jobId");
    const res = await c.var.adminApi(
      "POST",
      `/api/v1/admin/connections/${encodeURIComponent(connectionId)}/jobs/${encodeURIComponent(jobId)}/cancel`,
    );
    if (res.status === 404) throw new ConsoleError(404, "There is no such job.");
    if (res.status === 409) throw new ConsoleError(409, problemDetail(res.body));
    if (res.status !== 202) throw new ConsoleError(400, problemDetail(res.body));
    return c.redirect(`/console/connections/${connectionId}/jobs/${jobId}?cancelled=1`, 303);
  });
