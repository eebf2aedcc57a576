import { sweepOutbox } from "./acme/webhooks/outbox.ts";
import { restartStalledJobs, startReconciliations } from "./integration/jobs/cron-tasks.ts";
import { errorFields, log } from "./lib/logger.ts";

/** The cron trigger: each system's periodic repair work, independently of the other. */
export async function runScheduled(controller: ScheduledController, env: Env): Promise<void> {
  const now = new Date(controller.scheduledTime);
  const jobs: Record<string, () => Promise<unknown>> = {
    "acme outbox sweep": () => sweepOutbox(env, now),
    "integration reconciliation": () => startReconciliations(env),
    "integration job restart sweep": () => restartStalledJobs(env, now.getTime()),
  };
  const names = Object.keys(jobs);
  const results = await Promise.allSettled(Object.values(jobs).map((job) => job()));
  results.forEach((result, i) => {
    if (result.status === "rejected")
      log("error", "scheduled job failed", { job: names[i], ...errorFields(result.reason) });
    else log("info", "scheduled job done", { job: names[i], result: result.value });
  });
}
