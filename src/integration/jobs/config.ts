import { z } from "zod";

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

const cache = new WeakMap<object, JobConfig>();

/** Reads the jobs' vars; throws naming every bad one. */
export function loadJobConfig(env: Env): JobConfig {
  const cached = cache.get(env);
  if (cached) return cached;
  const parsed = JobEnvSchema.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid job configuration: ${fields}`);
  }
  const config = {
    importMaxBodyBytes: parsed.data.IMPORT_MAX_BODY_BYTES,
    leaseMs: parsed.data.JOB_LEASE_MS,
    iterationsPerInstance: parsed.data.JOB_ITERATIONS_PER_INSTANCE,
  };
  cache.set(env, config);
  return config;
}
