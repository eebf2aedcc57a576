import { defineConfig } from "drizzle-kit";

/** The per-connection Durable Object's own schema (see src/integration/connection-data). */
export default defineConfig({
  dialect: "sqlite",
  driver: "durable-sqlite",
  schema: "./src/integration/connection-data/schema.ts",
  out: "./migrations/connection-data",
});
