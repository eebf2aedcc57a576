import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { readLimited } from "../../lib/json-body.ts";
import { queryInteger } from "../../lib/query-integer.ts";
import { JOB_KINDS, JOB_STATUSES, type JobRow } from "../connection-data/schema.ts";
import { connectionData } from "../connection-data/stub.ts";
import { requireConnection } from "../connections/connection-store.ts";
import { identityBody } from "../content-coding.ts";
import { createRouter, type IntegrationEnv } from "../context.ts";
import { ApiError } from "../errors.ts";
import { connectionMapping } from "../field-mappings/connection-mapping.ts";
import { problemResponses } from "../problem-responses.ts";
import { ADMIN_TOKEN, API_KEY, securedRoute } from "../secured-route.ts";
import { loadJobConfig } from "./config.ts";
import { markDuplicateEmails } from "./import-duplicates.ts";
import { IMPORT_MEDIA_TYPES, importMediaType, MAX_IMPORT_ROWS, parseImport } from "./import-parser.ts";
import { toPublicJob } from "./job-store.ts";
import { startJob } from "./start-job.ts";

/** A job as the API shows it, for the document's examples. */
const JOB_EXAMPLE = {
  id: "job_01jd5x8m3q0000000000000000",
  kind: "import",
  status: "running",
  total: 150,
  processed: 60,
  succeeded: 58,
  failed: 2,
  createdAt: "2026-02-01T16:00:00.000Z",
  startedAt: "2026-02-01T16:00:01.000Z",
  finishedAt: null,
  etaSeconds: 12,
};

/** A failed row as the API lists it, for the document's examples. */
const JOB_ERROR_EXAMPLE = {
  row: 7,
  email: "not-an-email",
  code: "validation_failed",
  errors: [{ field: "email", message: "Invalid email address" }],
};

const JobSchema = z
  .object({
    id: z.string(),
    kind: z.enum(JOB_KINDS),
    status: z.enum(JOB_STATUSES).openapi({
      description:
        "`failed` when the job stopped on an error or processed rows and every one failed; a " +
        "`succeeded` job may still have failed rows (see `failed` and …/errors)",
    }),
    total: z.number().int().nullable().openapi({ description: "Rows to process; null while a sync pages" }),
    processed: z.number().int(),
    succeeded: z.number().int(),
    failed: z.number().int(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    etaSeconds: z.number().int().nullable().openapi({ description: "Seconds left at the rate so far" }),
  })
  .openapi("Job", { example: JOB_EXAMPLE });

const JobErrorSchema = z
  .object({
    row: z.number().int().openapi({ description: "1-based data row (a CSV header is not counted)" }),
    email: z.string().nullable().optional(),
    code: z.string().openapi({
      description:
        "validation_failed, malformed_row, duplicate_in_file (a later row has the email), or Acme's refusal",
    }),
    errors: z.array(z.object({ field: z.string(), message: z.string() })),
  })
  .openapi("JobError", { example: JOB_ERROR_EXAMPLE });

const JobIdParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/)
    .openapi({ param: { name: "id", in: "path" }, example: "job_01jd5x8m3q0000000000000000" }),
});

const LOCATION_HEADER = {
  Location: { schema: { type: "string" as const }, description: "/api/v1/jobs/{id}" },
};

function accepted(c: Context<IntegrationEnv>, job: JobRow) {
  c.header("Location", `/api/v1/jobs/${job.id}`);
  return c.json(toPublicJob(job), 202);
}

async function jobOr404(c: Context<IntegrationEnv>, id: string): Promise<JobRow> {
  const job = await connectionData(c.env, c.var.connection.id).findJob(id);
  if (!job) throw new ApiError("not_found", `Job ${id} does not exist.`);
  return job;
}

/**
 * The JSON import as the parser reads it (the parser, not this schema, checks it): closed at the
 * top, 1 to MAX_IMPORT_ROWS rows. A row is any JSON value here: each is validated as its own
 * create once the job runs, and one that fails is reported by itself, not refused with the body.
 */
const ImportBodySchema = z
  .strictObject({
    contacts: z
      .array(
        z.unknown().openapi({
          description:
            "One row, validated as a create (`ContactInput`) when the job runs: a row that is not " +
            "one (even a value that is not an object) fails alone, listed by `GET /jobs/{id}/errors`, " +
            "and does not stop the others",
        }),
      )
      .min(1)
      .max(MAX_IMPORT_ROWS),
  })
  .openapi("ImportBody", {
    description: `Rows to upsert by email: 1 to ${MAX_IMPORT_ROWS} (413 beyond); no other top-level field.`,
    example: {
      contacts: [
        { firstName: "Ada", lastName: "Lovelace", email: "ada@example.com" },
        {
          firstName: "Grace",
          lastName: "Hopper",
          email: "grace@example.com",
          company: "Navy",
          customFields: { contractTier: "gold" },
        },
      ],
    },
  });

const importRoute = securedRoute({
  method: "post",
  path: "/v1/imports",
  tags: ["Jobs"],
  summary: "Bulk upsert of contacts, matched by email (case-insensitive), as a job",
  description:
    `Up to ${MAX_IMPORT_ROWS} rows, or IMPORT_MAX_BODY_BYTES, as \`text/csv\` (a header row of API field ` +
    "names, `customFields.<name>` for a custom field; empty optional cells are null, a custom field's " +
    "cell is read as its type: `3`, `true`), `application/x-ndjson` (one contact per line) or " +
    '`application/json` (`{"contacts": [...]}`). Each row is validated like a single create and fails ' +
    "alone (see `GET /jobs/{id}/errors`); a row that matches its contact at Acme writes nothing, so the " +
    "same import run again makes no new versions.",
  security: API_KEY,
  request: {
    body: {
      required: true,
      content: {
        "text/csv": {
          schema: z.string().openapi({ example: "firstName,lastName,email\nAda,Lovelace,ada@example.com" }),
        },
        "application/x-ndjson": {
          schema: z.string().openapi({
            example: '{"firstName":"Ada","lastName":"Lovelace","email":"ada@example.com"}\n',
          }),
        },
        "application/json": { schema: ImportBodySchema },
      },
    },
  },
  responses: {
    202: {
      description: "The import job, queued",
      headers: LOCATION_HEADER,
      content: { "application/json": { schema: JobSchema } },
    },
    ...problemResponses(400, 401, 413, 415),
  },
});

export const jobsRouter = createRouter();

const ConnectionIdParams = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

/** The same import, started by the operator (the console) for a connection with the admin token. */
const adminImportRoute = securedRoute({
  ...importRoute,
  middleware: [],
  path: "/v1/admin/connections/{id}/imports",
  tags: ["Admin"],
  security: ADMIN_TOKEN,
  request: { ...importRoute.request, params: ConnectionIdParams },
  responses: { ...importRoute.responses, ...problemResponses(400, 401, 404, 413, 415) },
});

const CANCEL_RESPONSES = {
  202: {
    description: "Cancellation requested",
    content: { "application/json": { schema: JobSchema } },
  },
  ...problemResponses(400, 401, 404, 409),
};

/** Asks an active job to stop (409 `conflict` if it has already finished); the job as it stands. */
async function cancelJob(env: Env, connectionId: string, job: JobRow) {
  if (!(await connectionData(env, connectionId).requestCancel(job.id))) {
    throw new ApiError("conflict", `Job ${job.id} has already finished (${job.status}).`);
  }
  return toPublicJob(job);
}

// The body is read here, not by a schema validator: its format depends on the media type, and
// its size and row count are checked before any parsing (413), its media type first (415).
async function startImport(c: Context<IntegrationEnv>, connectionId: string) {
  const type = importMediaType(c.req.header("content-type"));
  if (!type) {
    throw new ApiError("unsupported_media_type", `Send the rows as ${IMPORT_MEDIA_TYPES.join(", ")}.`);
  }
  const maxBytes = loadJobConfig(c.env).importMaxBodyBytes;
  const tooLarge = () => new ApiError("payload_too_large", `The body exceeds ${maxBytes} bytes.`);
  if (Number(c.req.header("content-length") ?? "0") > maxBytes) throw tooLarge();
  const raw = c.req.raw.body ? await readLimited(c.req.raw.body, maxBytes) : new Uint8Array();
  if (raw === null) throw tooLarge();
  const mapping = await connectionMapping(c.env, connectionId, {
    memoryTtlMs: c.var.config.cacheMemoryTtlMs,
    fresh: true,
  });
  const rows = markDuplicateEmails(parseImport(type, raw, mapping), mapping);
  const job = await startJob(c.env, { connectionId, kind: "import", rows });
  return accepted(c, job);
}

/** An import route as the document states it: its middleware runs where it is served, below. */
function documented<R extends { middleware: unknown }>({
  middleware: _,
  ...route
}: R): Omit<R, "middleware"> {
  return route;
}

jobsRouter.openAPIRegistry.registerPath(documented(importRoute));
jobsRouter.post("/v1/imports", ...importRoute.middleware, identityBody(), (c) =>
  startImport(c, c.var.connection.id),
);
jobsRouter.openAPIRegistry.registerPath(documented(adminImportRoute));
jobsRouter.post(
  "/v1/admin/connections/:id/imports",
  ...adminImportRoute.middleware,
  identityBody(),
  async (c) => {
    const connection = await requireConnection(c.env.DB, c.req.param("id"));
    return startImport(c, connection.id);
  },
);

jobsRouter
  .openapi(
    securedRoute({
      method: "get",
      path: "/v1/jobs",
      tags: ["Jobs"],
      summary: "The connection's jobs, newest first",
      security: API_KEY,
      request: {
        query: z.strictObject({
          limit: z.coerce.number().int().min(1).max(100).default(20),
          cursor: z
            .string()
            .max(64)
            .regex(/^job_[a-z0-9]+$/)
            .optional()
            .openapi({ example: "job_01jd5x8m3q0000000000000000" }),
        }),
      },
      responses: {
        200: {
          description: "Jobs",
          content: {
            "application/json": {
              schema: z
                .object({ data: z.array(JobSchema), nextCursor: z.string().nullable() })
                .openapi("JobList", { example: { data: [JOB_EXAMPLE], nextCursor: null } }),
            },
          },
        },
        ...problemResponses(400, 401),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid("query");
      const rows = await connectionData(c.env, c.var.connection.id).listJobs({ limit, before: cursor });
      const now = Date.now();
      const nextCursor = rows.length === limit ? (rows[rows.length - 1]?.id ?? null) : null;
      return c.json({ data: rows.map((row) => toPublicJob(row, now)), nextCursor }, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/v1/jobs/{id}",
      tags: ["Jobs"],
      summary: "One job and its progress",
      security: API_KEY,
      request: { params: JobIdParams },
      responses: {
        200: { description: "The job", content: { "application/json": { schema: JobSchema } } },
        ...problemResponses(400, 401, 404),
      },
    }),
    async (c) => c.json(toPublicJob(await jobOr404(c, c.req.valid("param").id)), 200),
  )
  .openapi(
    securedRoute({
      method: "get",
      path: "/v1/jobs/{id}/errors",
      tags: ["Jobs"],
      summary: "A job's failed rows, in row order",
      security: API_KEY,
      request: {
        params: JobIdParams,
        query: z.strictObject({
          limit: z.coerce.number().int().min(1).max(500).default(100),
          cursor: queryInteger({ min: 0, fallback: 0 }).openapi({
            description: "The last row seen (`nextCursor`); 0 or absent: from the first row",
          }),
        }),
      },
      responses: {
        200: {
          description: "Failed rows after `cursor`",
          content: {
            "application/json": {
              schema: z
                .object({ data: z.array(JobErrorSchema), nextCursor: z.number().int().nullable() })
                .openapi("JobErrorList", { example: { data: [JOB_ERROR_EXAMPLE], nextCursor: 7 } }),
            },
          },
        },
        ...problemResponses(400, 401, 404),
      },
    }),
    async (c) => {
      const job = await jobOr404(c, c.req.valid("param").id);
      const { limit, cursor } = c.req.valid("query");
      const data = await connectionData(c.env, c.var.connection.id).jobErrors(job.id, {
        after: cursor,
        limit,
      });
      const nextCursor = data.length === limit ? (data[data.length - 1]?.row ?? null) : null;
      return c.json({ data, nextCursor }, 200);
    },
  )
  .openapi(
    securedRoute({
      method: "post",
      path: "/v1/jobs/{id}/cancel",
      tags: ["Jobs"],
      summary: "Stop a job after the step in flight",
      description:
        "202 with the job as it stands; its status becomes `cancelled` when the step in flight ends.",
      security: API_KEY,
      request: { params: JobIdParams },
      responses: CANCEL_RESPONSES,
    }),
    async (c) =>
      c.json(await cancelJob(c.env, c.var.connection.id, await jobOr404(c, c.req.valid("param").id)), 202),
  )
  .openapi(
    securedRoute({
      method: "post",
      path: "/v1/admin/connections/{id}/jobs/{jobId}/cancel",
      tags: ["Admin"],
      summary: "Stop a connection's job after the step in flight (as the operator)",
      security: ADMIN_TOKEN,
      request: {
        params: ConnectionIdParams.extend({
          jobId: JobIdParams.shape.id.openapi({ param: { name: "jobId", in: "path" } }),
        }),
      },
      responses: CANCEL_RESPONSES,
    }),
    async (c) => {
      const { id, jobId } = c.req.valid("param");
      await requireConnection(c.env.DB, id);
      const job = await connectionData(c.env, id).findJob(jobId);
      if (!job) throw new ApiError("not_found", `Job ${jobId} does not exist.`);
      return c.json(await cancelJob(c.env, id, job), 202);
    },
  )
  .openapi(
    syncRoute("backfill", {
      summary: "Pull every Acme contact into the mirror and the change feed, as a job",
      description:
        'Changes appear in the feed with `source: "backfill"`. Also started when a connection is created.',
    }),
    async (c) => {
      const connectionId = c.req.valid("param").id;
      await requireConnection(c.env.DB, connectionId);
      const running = await connectionData(c.env, connectionId).activeJob(["backfill", "reconcile"]);
      if (running) throw new ApiError("conflict", `Job ${running.id} is already syncing this connection.`);
      return accepted(c, await startJob(c.env, { connectionId, kind: "backfill" }));
    },
  )
  .openapi(
    syncRoute("reconcile", {
      summary: "Reconcile the connection now, instead of at its next scheduled time",
      description:
        "Each connection reconciles every RECONCILE_INTERVAL_SECONDS on its own schedule (pulling Acme's " +
        'changes since its checkpoint; healed changes appear in the feed with `source: "reconciliation"`). ' +
        "This starts one now and counts as the scheduled one: the next comes an interval later.",
    }),
    async (c) => {
      const connectionId = c.req.valid("param").id;
      await requireConnection(c.env.DB, connectionId);
      const result = await connectionData(c.env, connectionId).reconcileNow(connectionId);
      if ("active" in result) {
        throw new ApiError("conflict", `Job ${result.active.id} is already syncing this connection.`);
      }
      return accepted(c, result.started);
    },
  );

/** The admin route that starts a backfill or a reconciliation of a connection now (202, or 409 while one runs). */
function syncRoute<const K extends "backfill" | "reconcile">(
  kind: K,
  text: { summary: string; description: string },
) {
  return securedRoute({
    method: "post",
    path: `/v1/admin/connections/{id}/${kind}` as const,
    tags: ["Admin"],
    summary: text.summary,
    description: `${text.description} 409 while a backfill or reconciliation of the connection is still running.`,
    security: ADMIN_TOKEN,
    request: { params: z.object({ id: z.string().min(1).max(64) }) },
    responses: {
      202: {
        description: `The ${kind === "backfill" ? "backfill" : "reconciliation"} job, queued`,
        headers: LOCATION_HEADER,
        content: { "application/json": { schema: JobSchema } },
      },
      ...problemResponses(400, 401, 404, 409),
    },
  });
}
