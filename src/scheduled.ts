import { ACME_SCHEDULED_JOBS } from "./acme/background.ts";
import { INTEGRATION_SCHEDULED_JOBS } from "./integration/background.ts";
import { scheduledRunner } from "./lib/scheduled-jobs.ts";

/** The default Worker's cron trigger: each system's periodic repair work, independently of the other. */
export const runScheduled = scheduledRunner({ ...ACME_SCHEDULED_JOBS, ...INTEGRATION_SCHEDULED_JOBS });
