import { applyD1Migrations, env } from "cloudflare:test";

// Runs before each test file: migrations are idempotent, so files can run in any order.
await applyD1Migrations(env.ACME_DB, env.ACME_MIGRATIONS);
await applyD1Migrations(env.DB, env.DB_MIGRATIONS);
