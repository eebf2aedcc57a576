import { errorFields, log } from "./logger.ts";

/** Periodic work, by name: each job gets the env and the trigger's scheduled time. */
export type ScheduledJobs = Record<string, (env: Env, now: Date) => Promise<unknown>>;

/**
 * The cron trigger's work over `jobs`: all run side by side, independently of each other; each
 * ends in one log line (its result, or why it failed). Never rejects.
 */
export function scheduledRunner(jobs: ScheduledJobs) {
  return async function runScheduled(controller: ScheduledController, env: Env): Promise<void> {
    const now = new Date(controller.scheduledTime);
    const entries = Object.entries(jobs);
    const results = await Promise.allSettled(entries.map(([, job]) => job(env, now)));
    results.forEach((result, i) => {
      const job = entries[i]?.[0];
      if (result.status === "rejected")
        log("error", "scheduled job failed", { job, ...errorFields(result.reason) });
      else log("info", "scheduled job done", { job, result: result.value });
    });
  };
}
