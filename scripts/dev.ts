// `npm start`: local secrets, migrations, `wrangler dev`, demo data, and how to call it.
// Wrangler's start-up output and the seed's requests are held back and printed before the
// banner, so the banner (with the console's URL) is the last thing on screen once it is ready.
import { oneWorkerDemo, seedDemo } from "./demo-seed.ts";
import { DevOutput } from "./dev-output.ts";
import { ensureDevVars } from "./dev-vars.ts";
import { applyLocalMigrations, startDevServer } from "./wrangler-dev.ts";

const port = Number(process.env.PORT ?? 8787);
const output = new DevOutput();

// Request logs under npm start: one short line each (LOG_FORMAT=pretty, kept in .dev.vars).
const { vars, created } = await ensureDevVars(port, { LOG_FORMAT: "pretty" });
console.log(created ? "Created .dev.vars with fresh local secrets." : "Using existing .dev.vars.");
console.log("Applying local D1 migrations...");
applyLocalMigrations();
console.log(`Starting wrangler dev (on the project's own Node ${process.version}) and seeding demo data...`);

let server: Awaited<ReturnType<typeof startDevServer>>;
try {
  server = await startDevServer({ port, onLine: output.sink() });
} catch (error) {
  output.printHeld();
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
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
  const demo = await seedDemo(oneWorkerDemo(server.url), vars);
  await output.settled();
  output.goLive(demo.banner);
} catch (error) {
  output.printHeld();
  console.error("Seeding demo data failed:", error);
  await server.stop();
  process.exit(1);
}
