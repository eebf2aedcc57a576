import {
  WorkflowEntrypoint,
  type WorkflowEvent,
  type WorkflowStep,
  type WorkflowStepConfig,
} from "cloudflare:workers";
import type { AcmeTransport } from "../acme-client/transport.ts";
import { loadJobConfig } from "./config.ts";
import { failJob, runJobStep } from "./job-step.ts";
import { continueJob, type SyncJobParams } from "./start-job.ts";
import type { StepOutcome } from "./step-context.ts";

/** How an instance ends: with the job (its outcome), or by handing it on to the next instance. */
export type InstanceOutcome = StepOutcome | { done: false; continuedIn: string };

/** A step that throws (not a quota wait: those return) is retried a few times, then the job fails. */
const STEP_CONFIG: WorkflowStepConfig = {
  retries: { limit: 4, delay: "2 seconds", backoff: "exponential" },
  timeout: "5 minutes",
};

/**
 * A sync job (import, backfill, reconcile) as a Workflow: one durable step per chunk, each
 * idempotent against the job's checkpoint (see runJobStep), with a durable sleep wherever the
 * connection's quota says to wait. A job longer than JOB_ITERATIONS_PER_INSTANCE iterations runs
 * on in a chain of instances, one after another. The subclass says how to reach the in-Worker
 * Acme mock.
 */
export abstract class SyncJobRunner extends WorkflowEntrypoint<Env, SyncJobParams> {
  /** The transport for connections to the mock Acme in this Worker. */
  protected abstract inProcessAcme(): AcmeTransport;

  override async run(
    event: Readonly<WorkflowEvent<SyncJobParams>>,
    step: WorkflowStep,
  ): Promise<InstanceOutcome> {
    const { jobId, connectionId, generation = 0 } = event.payload;
    const { iterationsPerInstance } = loadJobConfig(this.env);
    try {
      for (let i = 1; i <= iterationsPerInstance; i++) {
        const outcome = await step.do(`chunk ${i}`, STEP_CONFIG, () =>
          runJobStep(this.env, this.inProcessAcme(), { jobId, connectionId }),
        );
        if (outcome.done) return outcome;
        if (outcome.waitMs > 0) await step.sleep(`quota wait ${i}`, outcome.waitMs);
      }
      // Before Workflows' per-instance step limit: the job goes on in a fresh instance, from
      // the job's checkpoint, and this one ends.
      const continuedIn = await step.do("continue in a new instance", STEP_CONFIG, () =>
        continueJob(this.env, connectionId, jobId, generation + 1),
      );
      return { done: false, continuedIn };
    } catch (error) {
      await step.do("record failure", () => failJob(this.env, { jobId, connectionId }, error));
      throw error;
    }
  }
}
