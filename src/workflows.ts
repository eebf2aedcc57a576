import { createApp } from "./app.ts";
import type { AcmeTransport } from "./integration/acme-client/transport.ts";
import { SyncJobRunner } from "./integration/jobs/job-workflow.ts";

// The Worker's own app, through which a job reaches the Acme mock in-process (as requests do).
const app = createApp();

/** The sync jobs' Workflow class (binding SYNC_JOBS), wired to this Worker's in-process Acme. */
export class SyncJobWorkflow extends SyncJobRunner {
  protected inProcessAcme(): AcmeTransport {
    // No execution context: what Acme would finish after answering (its webhook hand-off) is
    // awaited within the step, which nobody waits on, rather than left to outlive it.
    return (request) => Promise.resolve(app.fetch(request, this.env));
  }
}
