import { z } from "zod";
import { configLoader } from "../../lib/env-config.ts";

const DAY = 86_400;

const ConnectionDataEnvSchema = z.object({
  FEED_RETENTION_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(3650 * DAY)
    .default(30 * DAY),
  WEBHOOK_ID_RETENTION_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(365 * DAY)
    .default(3 * DAY),
  JOB_RETENTION_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(3650 * DAY)
    .default(30 * DAY),
  RECONCILE_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(DAY).default(300),
  RETENTION_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(DAY).default(3600),
  DEAD_LETTER_RETENTION_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(3650 * DAY)
    .default(30 * DAY),
});

/**
 * How long a connection's data is kept, how often its object's alarm runs the periodic work, and
 * how long the dead letters are kept.
 */
export interface ConnectionDataConfig {
  /** Change-feed entries older than this (s, by when recorded) are pruned; a cursor before them gets 410. */
  feedRetentionSeconds: number;
  /** Processed webhook ids are kept this long (s): the sender's retry horizon (Acme retries for about 3 days). */
  webhookIdRetentionSeconds: number;
  /** Finished jobs and their per-row errors are kept this long (s) after they end; then 404. */
  jobRetentionSeconds: number;
  /** A connection's reconciliation is due this long (s) after the last one started. */
  reconcileIntervalSeconds: number;
  /** Pruning runs at least this often (s); sooner while a backlog is left. */
  retentionIntervalSeconds: number;
  /** Dead letters (in D1, across connections) are kept this long (s) after they arrived; the cron prunes them. */
  deadLetterRetentionSeconds: number;
}

/** Reads the retention and schedule vars once per env; throws naming every bad one. */
export const loadConnectionDataConfig = configLoader(
  "connection data",
  ConnectionDataEnvSchema,
  (e): ConnectionDataConfig => ({
    feedRetentionSeconds: e.FEED_RETENTION_SECONDS,
    webhookIdRetentionSeconds: e.WEBHOOK_ID_RETENTION_SECONDS,
    jobRetentionSeconds: e.JOB_RETENTION_SECONDS,
    reconcileIntervalSeconds: e.RECONCILE_INTERVAL_SECONDS,
    retentionIntervalSeconds: e.RETENTION_INTERVAL_SECONDS,
    deadLetterRetentionSeconds: e.DEAD_LETTER_RETENTION_SECONDS,
  }),
);
