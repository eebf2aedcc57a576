import { createApp } from "./app.ts";
import { dispatchQueue } from "./queues.ts";
import { runScheduled } from "./scheduled.ts";

export { RateLimiter } from "./acme/rate-limit/rate-limiter.ts";
export { ConnectSession } from "./integration/connect/session-object.ts";
export { ConnectionData } from "./integration/connection-data/connection-data.ts";
export { DestinationCourier } from "./integration/destinations/courier.ts";
export { AcmeSession } from "./integration/session/acme-session.ts";
export { SyncJobWorkflow } from "./workflows.ts";

const app = createApp();

export default {
  fetch: app.fetch,
  queue: (batch, env) => dispatchQueue(batch, env),
  scheduled: (controller, env, ctx) => ctx.waitUntil(runScheduled(controller, env)),
} satisfies ExportedHandler<Env, unknown>;
