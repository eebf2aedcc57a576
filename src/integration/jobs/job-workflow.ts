import {
  WorkflowEntrypoint,
  type WorkflowEvent,
  type WorkflowStep,
  type WorkflowStepConfig,
} from "cloudflare:workers";
import type { AcmeTransport } from "../acme-client/transport.ts";
import { failJob, runJobStep, type StepOutcome } from "./job-step.ts";
import type { SyncJobParams } from "./start-job.ts";

/**
 * Iterations one instance runs at most: each is a step and perhaps a sleep, and Workflows
 * counts both against its per-instance step limit (1024 by default).
 */
const MAX_ITERATIONS = 500;

/** A step that throws (not a quota wait: those return) is retried a few times, then the job fails. */
const STEP_CONFIG: WorkflowStepConfig = {
  retries: { limit: 4, delay: "2 seconds", backoff: "exponential" },
  timeout: "5 minutes",
};

/**
 * A sync job (import, backfill, reconcile) as a Workflow: one durable step per chunk, each
 * idempotent against the job's D1 checkpoint (see runJobStep), with a durable sleep wherever the
 * connection's quota says to wait. The subclass says how to reach the in-Worker Acme mock.
 */
export abstract class SyncJobRunner extends WorkflowEntrypoint<Env, SyncJobParams> {
  /** The transport for connections to the mock Acme in this Worker. */
  protected abstract inProcessAcme(): AcmeTransport;

  override async run(
    event: Readonly<WorkflowEvent<SyncJobParams>>,
    step: WorkflowStep,
  ): Promise<StepOutcome> {
    const { jobId } = event.payload;
    try {
      for (let i = 1; i <= MAX_ITERATIONS; i++) {
        const outcome = await step.do(`chunk ${i}`, STEP_CONFIG, () =>
          runJobStep(this.env, this.inProcessAcme(), jobId),
        );
        if (outcome.done) return outcome;
        if (outcome.waitMs > 0) await step.sleep(`quota wait ${i}`, outcome.waitMs);
      }
      throw new Error(`job ${jobId} did not finish within ${MAX_ITERATIONS} steps`);
    } catch (error) {
      await step.do("record failure", () => failJob(this.env, jobId, error));
      throw error;
    }
  }
}
