import { errorFields, log } from "../../lib/logger.ts";
import type { AcmeTransport } from "../acme-client/transport.ts";
import { loadIntegrationConfig } from "../config.ts";
import { findConnection } from "../connections/connection-store.ts";
import { ApiError } from "../errors.ts";
import type { RequestStats } from "../request-stats.ts";
import { jobAcme } from "./acme-adapter.ts";
import { loadJobConfig } from "./config.ts";
import { importStep } from "./import-step.ts";
import { finishJob, loadJob, markRunning } from "./job-store.ts";
import type { StepContext, StepOutcome } from "./step-context.ts";
import { syncStep } from "./sync-step.ts";

/**
 * One step of a job, idempotent against the job's D1 checkpoint: it reads where the job stands,
 * does the next piece of work (one import chunk, or up to PAGES_PER_STEP pages of a sync), and
 * moves the checkpoint with the counts only from where it started. Run twice, the second run
 * finds the work in place (Acme already holds the row, the mirror the version) and counts
 * nothing. A cancel request is honoured here, so a job stops after the step in flight.
 */
export async function runJobStep(env: Env, inProcess: AcmeTransport, jobId: string): Promise<StepOutcome> {
  const now = () => Date.now();
  let job = await loadJob(env.DB, jobId);
  if (!job) return { done: true, status: "failed" };
  if (job.status !== "queued" && job.status !== "running") return { done: true, status: job.status };
  if (job.cancelRequested) {
    await finishJob(env.DB, jobId, "cancelled", new Date());
    return { done: true, status: "cancelled" };
  }
  if (job.status === "queued") {
    await markRunning(env.DB, jobId, new Date());
    job = (await loadJob(env.DB, jobId)) ?? job;
  }
  const connection = await findConnection(env.DB, job.connectionId);
  if (!connection) {
    await finishJob(env.DB, jobId, "failed", new Date(), "The connection no longer exists.");
    return { done: true, status: "failed" };
  }
  const config = loadIntegrationConfig(env);
  const stats: RequestStats = { acmeAttempts: 0, acmeRetries: 0, acmeWaitMs: 0 };
  const context: StepContext = {
    env,
    config,
    leaseMs: loadJobConfig(env).leaseMs,
    job,
    connection,
    acme: jobAcme(env, config, connection, inProcess, stats),
    now,
  };
  let outcome: StepOutcome;
  try {
    outcome = job.kind === "import" ? await importStep(context) : await syncStep(context);
  } catch (error) {
    // Credentials Acme refuses will not work on a retry either; the next cron run tries anew.
    if (!(error instanceof ApiError && error.code === "acme_auth_failed")) throw error;
    await failJob(env, jobId, error);
    return { done: true, status: "failed" };
  }
  log("info", "job step", {
    jobId,
    kind: job.kind,
    connection: job.connectionId,
    done: outcome.done,
    waitMs: outcome.done ? 0 : outcome.waitMs,
    acmeAttempts: stats.acmeAttempts,
    acmeRetries: stats.acmeRetries,
    acmeWaitMs: stats.acmeWaitMs,
  });
  return outcome;
}

/** Records a job as failed after its step gave up (the workflow's retries are spent). */
export async function failJob(env: Env, jobId: string, error: unknown): Promise<void> {
  log("error", "job failed", { jobId, ...errorFields(error) });
  const reason = error instanceof ApiError ? error.message : "The job stopped on an internal error.";
  await finishJob(env.DB, jobId, "failed", new Date(), reason);
}
