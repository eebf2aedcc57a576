import { defineConfig } from "drizzle-kit";

export default defineConfig({
  dialect: "sqlite",
  schema: "./src/acme/db/schema.ts",
  out: "./migrations/acme",
});
