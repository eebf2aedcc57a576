import { createApp } from "./app.ts";

export { RateLimiter } from "./acme/rate-limit/rate-limiter.ts";
export { AcmeSession } from "./integration/session/acme-session.ts";

const app = createApp();

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>;
