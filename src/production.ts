// Entry of env.production: the integration alone, reaching Acme over HTTP (wrangler.toml, [env.production]).
import { INTEGRATION_QUEUE_CONSUMERS, INTEGRATION_SCHEDULED_JOBS } from "./integration/background.ts";
import { queueDispatcher } from "./lib/queue-dispatch.ts";
import { scheduledRunner } from "./lib/scheduled-jobs.ts";
import { createProductionApp } from "./production-app.ts";

export { ConnectSession } from "./integration/connect/session-object.ts";
export { ConnectionData } from "./integration/connection-data/connection-data.ts";
export { DestinationCourier } from "./integration/destinations/courier.ts";
export { AcmeSession } from "./integration/session/acme-session.ts";
export { SyncJobWorkflow } from "./production-workflows.ts";

const app = createProductionApp();
const dispatchQueue = queueDispatcher(INTEGRATION_QUEUE_CONSUMERS);
const runScheduled = scheduledRunner(INTEGRATION_SCHEDULED_JOBS);

export default {
  fetch: app.fetch,
  queue: (batch, env) => dispatchQueue(batch, env),
  scheduled: (controller, env, ctx) => ctx.waitUntil(runScheduled(controller, env)),
} satisfies ExportedHandler<Env, unknown>;
