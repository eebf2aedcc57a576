import { MAX_IMPORT_ROWS } from "../jobs/import-parser.ts";
import type { RowError } from "../jobs/import-row.ts";
import type { PublicJob } from "../jobs/job-store.ts";
import { withQuery } from "./filters.ts";
import { ActionButton, CsrfField, NextPageLink, ScrollTable, Time } from "./layout.tsx";
import type { OperatorSignIn } from "./operator-cookie.ts";

/** How often a page with a job still running asks for its progress. */
const POLL_EVERY = "1s";

/** Statuses whose views keep asking for fresh progress. */
const ACTIVE = new Set<PublicJob["status"]>(["queued", "running"]);

function percent(job: PublicJob): number | null {
  if (job.status === "succeeded") return 100;
  if (job.total === null || job.total === 0) return null;
  return Math.min(100, Math.floor((job.processed / job.total) * 100));
}

/** A job's progress bar with its figures as text (the bar's accessible name says which job). */
export function JobProgress({ job }: { job: PublicJob }) {
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

/**
 * A job's status as a badge (the words carry it, not the colour). A job that succeeded with
 * failed rows says how many, in the warning colour rather than plain success.
 */
export function JobStatusBadge({ job }: { job: PublicJob }) {
  const partial = job.status === "succeeded" && job.failed > 0;
  return (
    <span class={`badge job-${partial ? "partial" : job.status}`} data-job-status={job.status}>
      {partial ? `succeeded, ${job.failed} ${job.failed === 1 ? "row" : "rows"} failed` : job.status}
    </span>
  );
}

/**
 * The jobs table. While a job on it is queued or running, it asks for itself again every second
 * (htmx), so the bars move; once none is, it stops asking. `query` is the page's cursor and filter,
 * kept by each refresh.
 */
export function JobsTable(props: {
  connectionId: string;
  jobs: PublicJob[];
  query?: Record<string, string | undefined>;
}) {
  const live = props.jobs.some((job) => ACTIVE.has(job.status));
  const self = withQuery(`/console/connections/${props.connectionId}/jobs/table`, props.query ?? {});
  return (
    <div
      id="jobs-table"
      {...(live ? { "hx-get": self, "hx-trigger": `every ${POLL_EVERY}`, "hx-swap": "outerHTML" } : {})}
    >
      {props.jobs.length === 0 ? (
        <p>{props.query?.kind || props.query?.status ? "No job matches the filter." : "No jobs yet."}</p>
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
                  <JobStatusBadge job={job} />
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

/**
 * One job's facts and progress; while the job runs it asks for itself every second and offers
 * cancel. Each answer also brings the failed rows after row `errorsAfter` (the page shown), so
 * they follow the progress (see FailedRowsSection). `failure`: why the job failed, if it did.
 */
export function JobDetail(props: {
  connectionId: string;
  job: PublicJob;
  failure: string | null;
  errorsAfter: number;
  operator: OperatorSignIn;
}) {
  const { job } = props;
  const live = ACTIVE.has(job.status);
  const self = `/console/connections/${props.connectionId}/jobs/${job.id}/progress${
    props.errorsAfter > 0 ? `?after=${props.errorsAfter}` : ""
  }`;
  return (
    <section
      id="job-detail"
      aria-label="Progress"
      {...(live ? { "hx-get": self, "hx-trigger": `every ${POLL_EVERY}`, "hx-swap": "outerHTML" } : {})}
    >
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <JobStatusBadge job={job} />
        </dd>
        <dt>Progress</dt>
        <dd>
          <JobProgress job={job} />
        </dd>
        <dt>Succeeded</dt>
        <dd>{job.succeeded}</dd>
        {job.status === "failed" && props.failure ? (
          <>
            <dt>Why it failed</dt>
            <dd>{props.failure}</dd>
          </>
        ) : null}
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

/** A page of a job's failed rows, each with its fields' problems; `first` says it is the first page. */
export function FailedRowsTable(props: { errors: RowError[]; first: boolean }) {
  return props.errors.length === 0 ? (
    <p>{props.first ? "No row has failed." : "No more failed rows."}</p>
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
        {props.errors.map((e) => (
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
  );
}

/**
 * The failed-rows section of a job's page: a page of failed rows and the link to the next. With
 * `outOfBand`, htmx swaps it in from a progress answer, so rows that fail while the page is open
 * appear without a reload.
 */
export function FailedRowsSection(props: {
  connectionId: string;
  jobId: string;
  errors: RowError[];
  after: number;
  next: number | null;
  outOfBand?: boolean;
}) {
  return (
    <section
      id="failed-rows"
      aria-labelledby="errors-heading"
      {...(props.outOfBand ? { "hx-swap-oob": "true" } : {})}
    >
      <h2 id="errors-heading">Failed rows</h2>
      <FailedRowsTable errors={props.errors} first={props.after === 0} />
      <NextPageLink
        href={
          props.next !== null
            ? `/console/connections/${props.connectionId}/jobs/${props.jobId}?after=${props.next}`
            : null
        }
        label="More failed rows"
      />
    </section>
  );
}

/** The upload form of an import, with the formats and limits it takes (`maxBytes`: the body limit, bytes). */
export function ImportForm(props: { connectionId: string; operator: OperatorSignIn; maxBytes: number }) {
  return (
    <section aria-labelledby="import-heading">
      <h2 id="import-heading">Import contacts from a file</h2>
      <p class="muted">
        CSV with a header row of API field names (firstName, lastName, email, ...), NDJSON, or JSON (
        <code>{'{"contacts": [...]}'}</code>); up to {MAX_IMPORT_ROWS} rows and{" "}
        {Math.floor(props.maxBytes / 1024)} KiB. Contacts are matched by email; each row fails alone.
      </p>
      <form
        method="post"
        action={`/console/connections/${props.connectionId}/jobs/import`}
        enctype="multipart/form-data"
        class="stack"
      >
        <CsrfField operator={props.operator} />
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
  );
}
