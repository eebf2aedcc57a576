// `npm start`: local secrets, migrations, `wrangler dev`, demo data, and how to call it.
// Wrangler's start-up output and the seed's requests are held back and printed before the
// banner, so the banner (with the console's URL) is the last thing on screen once it is ready.
import { seedDemo } from "./demo-seed.ts";
import { ensureDevVars } from "./dev-vars.ts";
import { applyLocalMigrations, startDevServer } from "./wrangler-dev.ts";

const port = Number(process.env.PORT ?? 8787);

// Wrangler's own line per request repeats the Worker's (which says more): only the Worker's is shown.
const WRANGLER_REQUEST_LINE = /^\[wrangler:info\] (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \S+ \d{3}\b/;

const held: { line: string; stream: "stdout" | "stderr" }[] = [];
let live = false;
let lastLineAt = Date.now();
// Wrangler prints its binding table again once its proxy connects: the second copy is skipped.
const BINDINGS_HEADING = "Your Worker has access to the following bindings:";
let bindingsShown = false;
let skippingRepeat = false;
function show(line: string, stream: "stdout" | "stderr"): void {
  lastLineAt = Date.now();
  if (WRANGLER_REQUEST_LINE.test(line)) return;
  if (line === BINDINGS_HEADING) {
    skippingRepeat = bindingsShown;
    bindingsShown = true;
  }
  if (skippingRepeat) {
    if (line.trim() === "") skippingRepeat = false;
    return;
  }
  if (!live) held.push({ line, stream });
  else if (stream === "stderr") console.error(line);
  else console.log(line);
}
/** Resolves once wrangler has printed nothing for `quietMs` (the seed's queue work is logged), or after `maxMs`. */
async function outputSettled(quietMs = 400, maxMs = 3000): Promise<void> {
  const until = Date.now() + maxMs;
  while (Date.now() - lastLineAt < quietMs && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
function printHeld(): void {
  for (const { line, stream } of held.splice(0)) {
    if (stream === "stderr") console.error(line);
    else console.log(line);
  }
}

// Request logs under npm start: one short line each (LOG_FORMAT=pretty, kept in .dev.vars).
const { vars, created } = await ensureDevVars(port, { LOG_FORMAT: "pretty" });
console.log(created ? "Created .dev.vars with fresh local secrets." : "Using existing .dev.vars.");
console.log("Applying local D1 migrations...");
applyLocalMigrations();
console.log(`Starting wrangler dev (on the project's own Node ${process.version}) and seeding demo data...`);

let server: Awaited<ReturnType<typeof startDevServer>>;
try {
  server = await startDevServer({ port, onLine: show });
} catch (error) {
  printHeld();
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
  const demo = await seedDemo(server.url, vars);
  await outputSettled();
  printHeld();
  console.log(demo.banner);
  live = true;
} catch (error) {
  printHeld();
  console.error("Seeding demo data failed:", error);
  await server.stop();
  process.exit(1);
}
