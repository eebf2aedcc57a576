import { z } from "zod";
import { configLoader } from "../../lib/env-config.ts";

const JobEnvSchema = z.object({
  IMPORT_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(52_428_800).default(5_242_880),
  JOB_LEASE_MS: z.coerce.number().int().min(1000).max(86_400_000).default(120_000),
  JOB_ITERATIONS_PER_INSTANCE: z.coerce.number().int().min(1).max(4000).default(400),
});

/** Settings of the sync jobs, validated once per env. */
export interface JobConfig {
  /** Largest import body, bytes (413 beyond). */
  importMaxBodyBytes: number;
  /** A running job whose row has not moved for this long (ms) is restarted by the cron sweep. */
  leaseMs: number;
  /**
   * Iterations (a step and perhaps a sleep) one Workflow instance runs before the job goes on in
   * a fresh instance: Workflows limits the steps of an instance (1,024 on Workers Free, 10,000 by
   * default on Paid; https://developers.cloudflare.com/workflows/reference/limits/), and an
   * iteration may take two.
   */
  iterationsPerInstance: number;
}

/** Reads the jobs' vars once per env; throws naming every bad one. */
export const loadJobConfig = configLoader(
  "job",
  JobEnvSchema,
  (e): JobConfig => ({
    importMaxBodyBytes: e.IMPORT_MAX_BODY_BYTES,
    leaseMs: e.JOB_LEASE_MS,
    iterationsPerInstance: e.JOB_ITERATIONS_PER_INSTANCE,
  }),
);
