import { type AcmeTransport, NO_IN_PROCESS_ACME } from "./integration/acme-client/transport.ts";
import { SyncJobRunner } from "./integration/jobs/job-workflow.ts";

/** The sync jobs' Workflow class (binding SYNC_JOBS) of env.production: Acme only over HTTP. */
export class SyncJobWorkflow extends SyncJobRunner {
  protected inProcessAcme(): AcmeTransport {
    return NO_IN_PROCESS_ACME;
  }
}
