import type { QueueConsumers } from "../lib/queue-dispatch.ts";
import type { ScheduledJobs } from "../lib/scheduled-jobs.ts";
import { pruneDeadLetters, restartStalledJobs, scheduleOverdueReconciliations } from "./jobs/cron-tasks.ts";
import { handleInboxBatch, handleInboxDeadLetters } from "./webhooks/inbox-consumer.ts";

/** The integration's queue consumers (queue names as in wrangler.toml). */
export const INTEGRATION_QUEUE_CONSUMERS: QueueConsumers = {
  "integration-inbox": handleInboxBatch,
  "integration-inbox-dlq": handleInboxDeadLetters,
};

/** The integration's cron work. */
export const INTEGRATION_SCHEDULED_JOBS: ScheduledJobs = {
  // Each connection's object schedules its own reconciliation; this only catches a schedule lost.
  "integration overdue reconciliations": (env, now) => scheduleOverdueReconciliations(env, now.getTime()),
  "integration job restart sweep": (env, now) => restartStalledJobs(env, now.getTime()),
  "integration dead-letter retention": (env, now) => pruneDeadLetters(env, now.getTime()),
};
