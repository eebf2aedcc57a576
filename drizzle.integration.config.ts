import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/integration/db/schema.ts",
  out: "./migrations/integration",
});
