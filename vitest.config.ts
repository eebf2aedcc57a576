import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { generateSecrets } from "./scripts/secrets.ts";

// Unit and integration tests: one workerd pool running the real Worker with local D1, KV,
// Durable Objects and Queues. Secrets are generated per run; nothing is read from .dev.vars.
export default defineConfig(async () => {
  const secrets = await generateSecrets();
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            ...secrets,
            // Every var a local .dev.vars may set is pinned here: the plugin reads that file too.
            ENVIRONMENT: "test",
            LOG_FORMAT: "json",
            ACME_ISSUER: "https://acme.test/acme",
            ACME_WEBHOOK_ALLOW_LOOPBACK: "false",
            DESTINATION_ALLOW_LOOPBACK: "false",
            CONNECT_REDIRECT_ALLOW_LOOPBACK: "false",
            CONNECT_SESSION_TTL_SECONDS: "1800",
            ACME_FAULTS_ENABLED: "true",
            ACME_TOKEN_TTL_SECONDS: "3600",
            // The product's app at the in-Worker Acme (test/integration/oauth-connection-helpers.ts
            // registers it with these), fixed so tests can register it once per storage.
            ACME_OAUTH_CLIENT_ID: "acme-bridge",
            ACME_OAUTH_CLIENT_SECRET: "acs_test-secret-of-the-products-app-at-acme-0000",
            ACME_RATE_LIMITS: JSON.stringify({
              read: { limit: 10_000, windowSeconds: 60 },
              write: { limit: 10_000, windowSeconds: 60 },
              delete: { limit: 10_000, windowSeconds: 60 },
              token: { limit: 1_000, windowSeconds: 60 },
              token_failure: { limit: 5, windowSeconds: 300 },
            }),
            // KV's one write per key per second is not enforced locally; the cache's own tests
            // (test/integration/hot-keys.test.ts) run its rules at 1000 ms against a stand-in that
            // enforces it, the rest read their writes back at once. Likewise the copies an isolate
            // holds in memory: tested there with injected time; here tests that age or drop KV
            // entries behind the Worker's back see the change at once. (The end-to-end suite runs
            // both at their defaults.)
            CACHE_KEY_WRITE_INTERVAL_MS: "0",
            CACHE_MEMORY_TTL_MS: "0",
            // A short open period, so tests of recovery wait well under a second.
            BREAKER_OPEN_MS: "400",
            // Jobs of more than two iterations go on in fresh Workflow instances, so every longer
            // job test also runs through the hand-on (production: 400).
            JOB_ITERATIONS_PER_INSTANCE: "2",
            ACME_MIGRATIONS: await readD1Migrations("./migrations/acme"),
            DB_MIGRATIONS: await readD1Migrations("./migrations/integration"),
            CONTRACT_FUZZ_SEED: process.env.CONTRACT_FUZZ_SEED ?? "",
            BAD_INPUT_SEED: process.env.BAD_INPUT_SEED ?? "",
          },
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      exclude: ["test/e2e/**"],
      setupFiles: ["./test/apply-migrations.ts", "./test/contract/check-self.ts"],
      testTimeout: 20_000,
      // Two pool workers, each its own workerd (Miniflare) with its own storage, so the mock
      // Acme's global fault profile never leaks between files running side by side. Within a
      // worker, files share one module graph and one storage (isolate: false): re-evaluating the
      // Worker for every file cost about 2 s a file, more than most files' tests. So no test may
      // assume empty tables or fresh module state; each makes its own accounts and connections.
      fileParallelism: true,
      maxWorkers: 2,
      isolate: false,
      // Request logs are JSON lines for production; in tests they only matter when a test fails.
      silent: "passed-only" as const,
    },
  };
});
