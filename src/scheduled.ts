import { sweepOutbox } from "./acme/webhooks/outbox.ts";
import { errorFields, log } from "./lib/logger.ts";

/** The cron trigger: each system's periodic repair work, independently of the other. */
export async function runScheduled(controller: ScheduledController, env: Env): Promise<void> {
  const jobs: Record<string, () => Promise<unknown>> = {
    "acme outbox sweep": () => sweepOutbox(env, new Date(controller.scheduledTime)),
  };
  const results = await Promise.allSettled(Object.values(jobs).map((job) => job()));
  Object.keys(jobs).forEach((name, i) => {
    const result = results[i];
    if (result?.status === "rejected")
      log("error", "scheduled job failed", { job: name, ...errorFields(result.reason) });
    else log("info", "scheduled job done", { job: name, result: result?.value });
  });
}
