// `node bench/create-outliers.ts`: why a create's p99 is many times its p50. It makes 150 creates
// one after another against its own wrangler dev (the bench's vars) and, for each create slower
// than 3x the median, prints the server's log lines from its start to its end: what else the
// Worker was doing meanwhile (webhook deliveries, inbox batches). Diagnosis, not a target.
import { setUp, startBenchServer } from "./setup.ts";

const bench = await startBenchServer();
const { server, vars } = bench;
const setup = await setUp(server.url, vars);
const times: { at: number; ms: number }[] = [];
for (let i = 0; i < 150; i++) {
  const t0 = performance.now();
  const at = Date.now();
  const res = await fetch(`${server.url}/api/v1/contacts`, {
    method: "POST",
    headers: { authorization: `Bearer ${setup.apiKey}`, "content-type": "application/json" },
    body: JSON.stringify({
      firstName: "Out",
      lastName: "Lier",
      email: `outlier-${i}-${crypto.randomUUID()}@example.com`,
    }),
  });
  await res.arrayBuffer();
  times.push({ at, ms: performance.now() - t0 });
}
const sorted = [...times].sort((a, b) => a.ms - b.ms);
console.log("p50", sorted[75]?.ms.toFixed(1), "p99", sorted[148]?.ms.toFixed(1));
const log = server.output().split("\n");
for (const slow of times.filter((t) => t.ms > 3 * (sorted[75]?.ms ?? 0))) {
  console.log(`\n=== slow create at ${new Date(slow.at).toISOString()} took ${slow.ms.toFixed(1)} ms`);
  for (const line of log) {
    const m = /"time":"([^"]+)"/.exec(line);
    if (!m) continue;
    const t = Date.parse(m[1] as string);
    if (t >= slow.at - 50 && t <= slow.at + slow.ms + 50) console.log("  ", line.slice(0, 260));
  }
}
await bench.close();
