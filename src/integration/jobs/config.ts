import { z } from "zod";

const JobEnvSchema = z.object({
  IMPORT_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(52_428_800).default(5_242_880),
  JOB_LEASE_MS: z.coerce.number().int().min(1000).max(86_400_000).default(120_000),
});

/** Settings of the sync jobs, validated once per env. */
export interface JobConfig {
  /** Largest import body, bytes (413 beyond). */
  importMaxBodyBytes: number;
  /** A running job whose row has not moved for this long (ms) is restarted by the cron sweep. */
  leaseMs: number;
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
  const config = { importMaxBodyBytes: parsed.data.IMPORT_MAX_BODY_BYTES, leaseMs: parsed.data.JOB_LEASE_MS };
  cache.set(env, config);
  return config;
}
