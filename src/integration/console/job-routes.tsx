import type { Context } from "hono";
import { JOB_KINDS, JOB_STATUSES } from "../connection-data/schema.ts";
import { connectionData } from "../connection-data/stub.ts";
import { findConnection } from "../connections/connection-store.ts";
import { loadJobConfig } from "../jobs/config.ts";
import { IMPORT_MEDIA_TYPES, type ImportMediaType } from "../jobs/import-parser.ts";
import { type PublicJob, toPublicJob } from "../jobs/job-store.ts";
import { problemDetail } from "./admin-api.ts";
import { connectionHealth } from "./connection-health.ts";
import { ConnectionTabs } from "./connection-views.tsx";
import { type ConsoleEnv, createConsoleRouter } from "./context.ts";
import { ConsoleError } from "./errors.tsx";
import { ChoiceField, FilterForm } from "./filter-form.tsx";
import { withQuery } from "./filters.ts";
import { errorCursor, jobCursor, jobErrorsPage, jobFilter, jobsPage } from "./job-paging.ts";
import { FailedRowsSection, ImportForm, JobDetail, JobsTable } from "./job-views.tsx";
import { NextPageLink, type Notice, Page, Time } from "./layout.tsx";

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

async function renderJobsPage(c: Context<ConsoleEnv>, notice?: Notice, status?: 400 | 413 | 415) {
  const found = await connectionHealth(c.env, c.req.param("id") ?? "");
  if (!found) throw new ConsoleError(404, "There is no such connection.");
  const id = found.row.id;
  const before = jobCursor(c.req.query("before"));
  const filter = jobFilter({ kind: c.req.query("kind"), status: c.req.query("status") });
  const { data, next } = await jobsPage(c.env, id, before, filter);
  const jobsPath = `/console/connections/${id}/jobs`;
  const maxBytes = loadJobConfig(c.env).importMaxBodyBytes;
  return c.html(
    <Page
      title={`${found.row.name}: jobs`}
      operator={c.var.operator}
      path="/console/connections"
      notice={notice}
    >
      <ConnectionTabs id={id} current="jobs" />
      <ImportForm connectionId={id} operator={c.var.operator} maxBytes={maxBytes} />
      <section aria-labelledby="jobs-heading">
        <h2 id="jobs-heading">Jobs</h2>
        <FilterForm
          action={jobsPath}
          label="Filter jobs"
          active={filter.kind !== undefined || filter.status !== undefined}
        >
          <ChoiceField name="kind" label="Kind" value={filter.kind} options={JOB_KINDS} />
          <ChoiceField name="status" label="Status" value={filter.status} options={JOB_STATUSES} />
        </FilterForm>
        <JobsTable connectionId={id} jobs={data} query={{ ...filter, before }} />
        <NextPageLink
          href={next ? withQuery(jobsPath, { ...filter, before: next }) : null}
          label="Older jobs"
        />
      </section>
    </Page>,
    status ?? 200,
  );
}

async function jobOr404(c: Context<ConsoleEnv>) {
  const connectionId = c.req.param("id") ?? "";
  const jobId = c.req.param("jobId") ?? "";
  // An id that names no connection gets no object made for it.
  const row = (await findConnection(c.env.DB, connectionId))
    ? await connectionData(c.env, connectionId).findJob(jobId)
    : null;
  if (!row) throw new ConsoleError(404, "There is no such job.");
  return { connectionId, job: toPublicJob(row), failure: row.failure };
}

/**
 * The job's detail and its failed rows after the request's `after`, as its page shows them and
 * its live progress sends them again (`outOfBand`: the rows swapped in beside the progress).
 * Throws ConsoleError 404 for an unknown job or connection.
 */
async function jobPanels(c: Context<ConsoleEnv>, outOfBand: boolean) {
  const { connectionId, job, failure } = await jobOr404(c);
  const after = errorCursor(c.req.query("after"));
  const { data, next } = await jobErrorsPage(c.env, connectionId, job.id, after);
  const panels = (
    <>
      <JobDetail
        connectionId={connectionId}
        job={job}
        failure={failure}
        errorsAfter={after}
        operator={c.var.operator}
      />
      <FailedRowsSection
        connectionId={connectionId}
        jobId={job.id}
        errors={data}
        after={after}
        next={next}
        outOfBand={outOfBand}
      />
    </>
  );
  return { connectionId, job, panels };
}

/** A connection's jobs: progress bars that move while a job runs, a job's failed rows, cancel, and an import from a file. */
export const jobRouter = createConsoleRouter()
  .get("/:id/jobs", (c) => renderJobsPage(c))
  .get("/:id/jobs/table", async (c) => {
    const id = c.req.param("id");
    const before = jobCursor(c.req.query("before"));
    const filter = jobFilter({ kind: c.req.query("kind"), status: c.req.query("status") });
    const { data } = await jobsPage(c.env, id, before, filter);
    return c.html(<JobsTable connectionId={id} jobs={data} query={{ ...filter, before }} />);
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
    const { connectionId, job, panels } = await jobPanels(c, false);
    const found = await connectionHealth(c.env, connectionId);
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
        {panels}
      </Page>,
    );
  })
  .get("/:id/jobs/:jobId/progress", async (c) => {
    // The failed rows come with the progress (out of band), so they never lag behind its count.
    return c.html((await jobPanels(c, true)).panels);
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
