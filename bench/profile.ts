// `npm run bench:profile -- <route> [seconds]`: a CPU profile of the Worker while one route of the
// benchmark is under load (10 connections). It starts its own unminified `wrangler dev`, records
// through the Worker's DevTools inspector (Chrome DevTools Protocol, Profiler domain), writes the
// profile to bench/<route>.cpuprofile (open it in Chrome DevTools or speedscope) and prints the
// functions with the most self time, and the share of the Worker's time under each function of
// its bundle (unminified, so the names are the source's).
// Routes: baseline, acme, hit, miss, create. With an inspector attached every console.log is
// also sent to it, so log lines weigh more here than deployed.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type autocannon from "autocannon";
import { ROOT } from "../scripts/wrangler-dev.ts";
import { load, setUp, startBenchServer } from "./setup.ts";

const ROUTE = process.argv[2] ?? "miss";
const SECONDS = Number(process.argv[3] ?? 10);

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** A Chrome DevTools Protocol session over the inspector's WebSocket (Node's own WebSocket). */
async function devtools(port: number) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const target = targets[0];
  if (!target) throw new Error(`no inspector target on port ${port}`);
  // Wrangler's inspector proxy takes only connections that name a local origin.
  const socket = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://127.0.0.1" } });
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.addEventListener("message", (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  return {
    send<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
      const id = nextId++;
      return new Promise<T>((resolve) => {
        pending.set(id, (result) => resolve(result as T));
        socket.send(JSON.stringify({ id, method, params }));
      });
    },
    close: () => socket.close(),
  };
}

/** The Worker's bundle as wrangler dev built it (unminified), read while the server runs. */
let bundleLines: string[] = [];

function readBundle(): void {
  const dir = join(ROOT, ".wrangler", "tmp");
  const newest = readdirSync(dir)
    .filter((d) => d.startsWith("dev-"))
    .map((d) => join(dir, d, "index.js"))
    .filter((f) => existsSync(f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  if (newest) bundleLines = readFileSync(newest, "utf8").split("\n");
}

/** The source module a bundle line belongs to: esbuild heads each module with a `// path` comment. */
function moduleAt(line: number): string {
  for (let i = Math.min(line, bundleLines.length - 1); i >= 0; i--) {
    const match = /^\/\/ ((?:src|node_modules)\/\S+)$/.exec(bundleLines[i] ?? "");
    if (match) return (match[1] as string).replace(/^node_modules\/(?:\.pnpm\/)?/, "");
  }
  return "";
}

const where = (frame: CallFrame) =>
  frame.url.endsWith("index.js")
    ? `${frame.functionName || "(anonymous)"} ${moduleAt(frame.lineNumber)}:${frame.lineNumber + 1}`
    : `${frame.functionName || "(anonymous)"} ${frame.url || "(runtime)"}`;

/** Self time per function, and total time under each function of the Worker's bundle (inclusive), in ms. */
function summarise(profile: Profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const selfMs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    selfMs.set(id, (selfMs.get(id) ?? 0) + (deltas[i + 1] ?? deltas[i] ?? 0) / 1000);
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let busy = 0;
  for (const [id, ms] of selfMs) {
    const node = byId.get(id);
    if (!node) continue;
    const name = node.callFrame.functionName;
    if (name !== "(idle)" && name !== "(program)") busy += ms;
    self.set(where(node.callFrame), (self.get(where(node.callFrame)) ?? 0) + ms);
    // Each of our functions on the stack counts the sample once.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      // The Worker's own bundle (wrangler names it index.js), not the runtime's builtins.
      if (!frame?.url.endsWith("index.js")) continue;
      const key = where(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + ms);
    }
  }
  const top = (map: Map<string, number>, n: number) =>
    [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  return { busy, self: top(self, 30), inclusive: top(inclusive, 40) };
}

async function main() {
  const bench = await startBenchServer({ unminified: true });
  const { server, vars } = bench;
  try {
    const setup = await setUp(server.url, vars);
    const api = { authorization: `Bearer ${setup.apiKey}` };
    const routes: Record<string, autocannon.Options> = {
      baseline: { url: `${server.url}/health` },
      acme: {
        url: `${server.url}/acme/v1/contacts/${setup.contactId}`,
        headers: { authorization: `Bearer ${setup.acmeToken}` },
      },
      hit: { url: `${server.url}/api/v1/contacts/${setup.contactId}`, headers: api },
      miss: {
        url: `${server.url}/api/v1/contacts/${setup.contactId}`,
        headers: { ...api, "cache-control": "no-cache" },
      },
      create: {
        url: `${server.url}/api/v1/contacts`,
        method: "POST",
        headers: { ...api, "content-type": "application/json" },
        requests: [
          {
            setupRequest: (request) => {
              request.body = JSON.stringify({
                firstName: "Profile",
                lastName: "Run",
                email: `profile-${crypto.randomUUID()}@example.com`,
              });
              return request;
            },
          },
        ],
      },
    };
    const options = routes[ROUTE];
    if (!options) throw new Error(`route must be one of ${Object.keys(routes).join(", ")}`);
    const run = (duration: number) => load({ ...options, connections: 10, duration });
    await run(3); // warm up: token, cache, JIT
    const inspector = await devtools(server.inspectorPort);
    await inspector.send("Profiler.enable");
    await inspector.send("Profiler.setSamplingInterval", { interval: 200 });
    await inspector.send("Profiler.start");
    const result = await run(SECONDS);
    const { profile } = await inspector.send<{ profile: Profile }>("Profiler.stop");
    readBundle();
    inspector.close();
    const file = join(ROOT, "bench", `${ROUTE}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    const { busy, self, inclusive } = summarise(profile);
    const served = result.requests.total;
    console.log(
      `${ROUTE}: ${served} requests in ${SECONDS} s, ${(busy / served).toFixed(3)} ms of Worker CPU per request`,
    );
    console.log("\nself time (ms per request):");
    for (const [name, ms] of self) console.log(`  ${(ms / served).toFixed(4)}  ${name}`);
    console.log("\nunder our functions (ms per request, share of the Worker's busy time):");
    for (const [name, ms] of inclusive)
      console.log(`  ${(ms / served).toFixed(4)}  ${((ms / busy) * 100).toFixed(1)}%  ${name}`);
    console.log(`\nprofile written to ${file}`);
  } finally {
    await bench.close();
  }
}

await main();
