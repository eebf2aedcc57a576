// `npm run start:split`: the two deployments side by side, as they run on Cloudflare: the mock
// Acme alone (env.acme) on PORT+1 and the integration alone (env.production) on PORT (default
// 8787), each with its own local state under .wrangler/split/, seeded and announced like npm start.
import { join } from "node:path";
import { seedDemo } from "./demo-seed.ts";
import { DevOutput } from "./dev-output.ts";
import { ensureDevVars } from "./dev-vars.ts";
import { type SplitServers, startSplit } from "./split-dev.ts";
import { ROOT } from "./wrangler-dev.ts";

const port = Number(process.env.PORT ?? 8787);
const SPLIT_STATE = join(ROOT, ".wrangler", "split");
const output = new DevOutput();
const sinks = { acme: output.sink("[acme] "), production: output.sink("[api]  ") };

// The same .dev.vars as npm start (its secrets serve both Workers); startSplit sets each one's URLs.
const { vars, created } = await ensureDevVars(port, { LOG_FORMAT: "pretty" });
console.log(created ? "Created .dev.vars with fresh local secrets." : "Using existing .dev.vars.");
console.log("Applying local D1 migrations and starting env.acme and env.production...");

let servers: SplitServers;
try {
  servers = await startSplit({
    port,
    persistTo: SPLIT_STATE,
    vars,
    onLine: (worker, line, stream) => sinks[worker](line, stream),
  });
} catch (error) {
  output.printHeld();
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
let stopping = false;
async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await servers.stop();
  }
  process.exit(code);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void stopAll(0));
// Any other way out (an uncaught error): both process groups still get their SIGTERM.
process.on("exit", () => {
  for (const server of [servers.product, servers.acme]) {
    try {
      process.kill(-server.processGroup, "SIGTERM");
    } catch {
      // already gone
    }
  }
});

try {
  const demo = await seedDemo(
    {
      apiBase: servers.product.url,
      acmeBase: servers.acme.url,
      connectionAcmeBaseUrl: `${servers.acme.url}/acme`,
      statePath: join(SPLIT_STATE, "demo.json"),
      title:
        "acme-bridge is running locally as two Workers: the integration (env.production) and the mock Acme (env.acme).",
    },
    vars,
  );
  await output.settled();
  output.goLive(demo.banner);
} catch (error) {
  output.printHeld();
  console.error("Seeding demo data failed:", error);
  await stopAll(1);
}
