import { errorFields, log } from "../../lib/logger.ts";
import type { AcmeTransport } from "../acme-client/transport.ts";
import { loadIntegrationConfig } from "../config.ts";
import { connectionData } from "../connection-data/stub.ts";
import { findConnection } from "../connections/connection-store.ts";
import { ApiError } from "../errors.ts";
import type { RequestStats } from "../request-stats.ts";
import { jobAcme } from "./acme-adapter.ts";
import { unindexJob } from "./active-jobs.ts";
import { loadJobConfig } from "./config.ts";
import { importStep } from "./import-step.ts";
import { endJob } from "./job-end.ts";
import type { SyncJobParams } from "./start-job.ts";
import type { StepContext, StepOutcome } from "./step-context.ts";
import { syncStep } from "./sync-step.ts";

/** Problems a retry of the step cannot cure: the job fails at once. */
const NOT_RETRIED: ReadonlySet<string> = new Set(["acme_auth_failed", "connection_needs_reauth"]);
/**
 * One step of a job, idempotent against the job's checkpoint (in the connection's object): it reads where the job stands,
 * does the next piece of work (one import chunk, or up to PAGES_PER_STEP pages of a sync), and
 * moves the checkpoint with the counts only from where it started. Run twice, the second run
 * finds the work in place (Acme already holds the row, the mirror the version) and counts
 * nothing. A cancel request is honoured here, so a job stops after the step in flight.
 */
export async function runJobStep(
  env: Env,
  inProcess: AcmeTransport,
  params: Pick<SyncJobParams, "jobId" | "connectionId">,
): Promise<StepOutcome> {
  const now = () => Date.now();
  const { jobId, connectionId } = params;
  const data = connectionData(env, connectionId);
  let job = await data.findJob(jobId);
  if (!job) {
    await unindexJob(env.DB, jobId);
    return { done: true, status: "failed" };
  }
  if (job.status !== "queued" && job.status !== "running") return { done: true, status: job.status };
  if (job.cancelRequested) return { done: true, status: await endJob({ env, data, job }, "cancelled") };
  if (job.status === "queued") job = (await data.markRunning(jobId, new Date())) ?? job;
  const connection = await findConnection(env.DB, connectionId);
  if (!connection) {
    return {
      done: true,
      status: await endJob({ env, data, job }, "failed", "The connection no longer exists."),
    };
  }
  const config = loadIntegrationConfig(env);
  const stats: RequestStats = { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 };
  // A sync keeps Acme's custom values raw and needs no mapping; an import writes by it.
  const mapping = job.kind === "import" ? await data.fieldMappings() : [];
  const context: StepContext = {
    env,
    config,
    leaseMs: loadJobConfig(env).leaseMs,
    job,
    connection,
    data,
    acme: jobAcme(env, config, connection, inProcess, stats, mapping),
    mapping,
    now,
  };
  let outcome: StepOutcome;
  try {
    outcome = job.kind === "import" ? await importStep(context) : await syncStep(context);
  } catch (error) {
    // Credentials Acme refuses, or a grant it revoked, will not work on a retry either; the next
    // cron run tries anew (a connection that needs reauthorization is refused at once, no call made).
    if (!(error instanceof ApiError && NOT_RETRIED.has(error.code))) throw error;
    await failJob(env, params, error);
    return { done: true, status: "failed" };
  }
  log("info", "job step", {
    jobId,
    kind: job.kind,
    connection: connectionId,
    done: outcome.done,
    waitMs: outcome.done ? 0 : outcome.waitMs,
    acmeAttempts: stats.acmeAttempts,
    acmeRetries: stats.acmeRetries,
    acmeWaitMs: stats.acmeWaitMs,
  });
  return outcome;
}

/** Records a job as failed after its step gave up (the workflow's retries are spent). */
export async function failJob(
  env: Env,
  params: Pick<SyncJobParams, "jobId" | "connectionId">,
  error: unknown,
): Promise<void> {
  log("error", "job failed", { ...params, ...errorFields(error) });
  const reason = error instanceof ApiError ? error.message : "The job stopped on an internal error.";
  const data = connectionData(env, params.connectionId);
  await endJob({ env, data, job: { id: params.jobId } }, "failed", reason);
}
