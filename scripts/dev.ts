// `npm start`: local secrets, migrations, `wrangler dev`, demo data, and how to call it.
import { seedDemo } from "./demo-seed.ts";
import { ensureDevVars } from "./dev-vars.ts";
import { applyLocalMigrations, startDevServer } from "./wrangler-dev.ts";

const port = Number(process.env.PORT ?? 8787);

const { vars, created } = await ensureDevVars(port);
console.log(created ? "Created .dev.vars with fresh local secrets." : "Using existing .dev.vars.");
console.log("Applying local D1 migrations...");
applyLocalMigrations();

const server = await startDevServer({ port, inheritOutput: true });
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await server.stop();
    process.exit(0);
  });
}

try {
  const demo = await seedDemo(server.url, vars);
  console.log(demo.banner);
} catch (error) {
  console.error("Seeding demo data failed:", error);
  await server.stop();
  process.exit(1);
}
