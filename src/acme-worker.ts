// Entry of env.acme: the mock Acme CRM as its own Worker (wrangler.toml, [env.acme]).
import { ACME_QUEUE_CONSUMERS, ACME_SCHEDULED_JOBS } from "./acme/background.ts";
import { createAcmeWorkerApp } from "./acme-worker-app.ts";
import { queueDispatcher } from "./lib/queue-dispatch.ts";
import { scheduledRunner } from "./lib/scheduled-jobs.ts";

export { RateLimiter } from "./acme/rate-limit/rate-limiter.ts";

const app = createAcmeWorkerApp();
const dispatchQueue = queueDispatcher(ACME_QUEUE_CONSUMERS);
const runScheduled = scheduledRunner(ACME_SCHEDULED_JOBS);

export default {
  fetch: app.fetch,
  queue: (batch, env) => dispatchQueue(batch, env),
  scheduled: (controller, env, ctx) => ctx.waitUntil(runScheduled(controller, env)),
} satisfies ExportedHandler<Env, unknown>;
