import type { QueueConsumers } from "../lib/queue-dispatch.ts";
import type { ScheduledJobs } from "../lib/scheduled-jobs.ts";
import { pruneOAuth } from "./oauth/retention.ts";
import { handleDeadDeliveries, handleDeliveryBatch } from "./webhooks/delivery-consumer.ts";
import { sweepOutbox } from "./webhooks/outbox.ts";

/** The mock Acme's queue consumers (queue names as in wrangler.toml). */
export const ACME_QUEUE_CONSUMERS: QueueConsumers = {
  "acme-webhook-deliveries": (batch, env) => handleDeliveryBatch(batch, env),
  "acme-webhook-deliveries-dlq": handleDeadDeliveries,
};

/** The mock Acme's cron work. */
export const ACME_SCHEDULED_JOBS: ScheduledJobs = {
  "acme outbox sweep": (env, now) => sweepOutbox(env, now),
  "acme oauth retention": (env, now) => pruneOAuth(env.ACME_DB, now.getTime()),
};
