// `npm run bench`: side-by-side throughput and latency of the Worker's routes under `wrangler dev`,
// the webhook pipeline's latency, the rate-budget run, and the bundle size. Ratios against a
// baseline measured in the same run are what a noisy shared machine can compare.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type autocannon from "autocannon";
import { type AcmeBridgeClient, createAcmeBridgeClient } from "../client/index.ts";
import { ROOT } from "../scripts/wrangler-dev.ts";
import { processGroupCpuMs } from "./cpu.ts";
import { startCpuBurner } from "./cpu-burner.ts";
import { CUSTOM_FIELDS, type CustomFieldsSetup, customFieldsSetUp } from "./custom-fields.ts";
import { jobsBench } from "./jobs.ts";
import { expectData, json, load, type Setup, setUp, startBenchServer } from "./setup.ts";
import { stormBench } from "./storm.ts";

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const DURATION_S = Number(process.env.BENCH_DURATION ?? 8);
const WARMUP_S = 2;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Sequential passes over all routes for unloaded latency. */
const LATENCY_PASSES = Number(process.env.BENCH_LATENCY_PASSES ?? 500);
const PIPELINE_CHANGES = Number(process.env.BENCH_PIPELINE_CHANGES ?? 300);
/** Changes per second made at Acme during the pipeline run. */
const PIPELINE_RATE = Number(process.env.BENCH_PIPELINE_RATE ?? 25);
const BUDGET_WRITES = Number(process.env.BENCH_BUDGET_WRITES ?? 300);
/** `BENCH_ONLY=budget,jobs` runs those parts alone (routes, pipeline, budget, jobs, storm). */
const ONLY = process.env.BENCH_ONLY?.split(",").map((part) => part.trim());
const runs = (part: string) => !ONLY || ONLY.includes(part);
/** `BENCH_CPU_BURNER=2` runs two busy processes beside the server for the whole bench. */
const CPU_BURNER = Number(process.env.BENCH_CPU_BURNER ?? 0);
/** `BENCH_SLOTS_AHEAD=0` runs the Worker with SESSION_SLOTS_AHEAD=false; 1 or unset, with it on. */
const SLOTS_AHEAD = slotsAhead(process.env.BENCH_SLOTS_AHEAD);

function slotsAhead(value: string | undefined): boolean {
  if (value === undefined || value === "1") return true;
  if (value === "0") return false;
  throw new Error(`BENCH_SLOTS_AHEAD must be 0 or 1, not ${JSON.stringify(value)}`);
}

interface Row {
  name: string;
  requestsPerSecond: number;
  /** Unloaded (one connection). */
  p50Ms: number;
  p99Ms: number;
  loadedP50Ms: number;
  loadedP99Ms: number;
  errors: number;
  non2xx: number;
  ratio?: number;
  ratioOf?: string;
  /** The ratio in each round, in order (the reported ratio is their median): the run's own spread. */
  roundRatios?: number[];
  /** Server CPU time (wrangler dev and workerd, user + system) per request served under load, ms. */
  cpuMsPerRequest: number;
  /** CPU per request against the do-nothing route's, and against the direct Acme read's. */
  cpuOfBaseline?: number;
  cpuOfAcmeRead?: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

interface Route {
  name: string;
  /** Which route's throughput this one is compared with. */
  against: string;
  options: Omit<autocannon.Options, "connections" | "duration">;
  /** A fresh body per request (creates), for the unloaded passes. */
  body?: () => string;
  /**
   * Timed on its own after the interleaved passes, in half as many: a create sets off webhook
   * deliveries in the background, which would slow whatever route came next. (250 samples by
   * default, so that p99 is the third slowest rather than the slowest.)
   */
  latencyAlone?: boolean;
}

/**
 * Unloaded latency, side by side: one request at a time, each pass calling every route once (the
 * order rotating), timed to 0.01 ms. Interleaving puts any drift of the shared machine on all
 * routes alike, and sub-millisecond times make an added latency of 1.4 ms read as such (autocannon's
 * histogram counts whole milliseconds).
 */
async function unloadedLatency(routes: Route[], passes: number): Promise<Record<string, number[]>> {
  const times: Record<string, number[]> = Object.fromEntries(routes.map((r) => [r.name, []]));
  for (let pass = 0; pass < passes; pass++) {
    for (let i = 0; i < routes.length; i++) {
      const route = routes[(pass + i) % routes.length] as Route;
      const { url, method, headers, body } = route.options;
      const started = performance.now();
      const res = await fetch(url, {
        method: method ?? "GET",
        headers: headers as Record<string, string> | undefined,
        body: route.body?.() ?? (body as string | undefined),
      });
      await res.arrayBuffer();
      times[route.name]?.push(performance.now() - started);
      if (!res.ok) throw new Error(`${route.name}: ${res.status}`);
    }
  }
  for (const list of Object.values(times)) list.sort((a, b) => a - b);
  return times;
}

const ms = (value: number) => Math.round(value * 100) / 100;

/**
 * Throughput under load (CONNECTIONS at once) in ROUNDS rounds, the routes taking turns so that
 * each ratio compares runs a few seconds apart; the median ratio over the rounds is reported.
 * Then latency unloaded (see unloadedLatency): under load, latency is mostly queueing.
 */
async function measureRoutes(
  routes: Route[],
  settle: () => Promise<void>,
  cpuMs: () => number,
): Promise<Row[]> {
  const perRound: Record<string, number>[] = [];
  for (const route of routes) await load({ ...route.options, connections: CONNECTIONS, duration: WARMUP_S });
  const loaded: Record<string, autocannon.Result[]> = {};
  const cpuPerRequest: Record<string, number[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    const rates: Record<string, number> = {};
    for (const route of routes) {
      const cpuBefore = cpuMs();
      const result = await load({ ...route.options, connections: CONNECTIONS, duration: DURATION_S });
      const served = result.requests.total;
      cpuPerRequest[route.name] = [
        ...(cpuPerRequest[route.name] ?? []),
        served > 0 ? (cpuMs() - cpuBefore) / served : Number.NaN,
      ];
      rates[route.name] = result.requests.average;
      loaded[route.name] = [...(loaded[route.name] ?? []), result];
    }
    perRound.push(rates);
    // Creates leave webhook deliveries behind: let them finish before the next round.
    await settle();
  }
  const unloaded = await unloadedLatency(
    routes.filter((r) => !r.latencyAlone),
    LATENCY_PASSES,
  );
  for (const route of routes.filter((r) => r.latencyAlone)) {
    await settle();
    Object.assign(unloaded, await unloadedLatency([route], Math.ceil(LATENCY_PASSES / 2)));
  }
  const rows: Row[] = [];
  const cpu = (name: string | undefined) => median(cpuPerRequest[name ?? ""] ?? [Number.NaN]);
  const [baselineRoute, acmeRoute] = routes;
  for (const route of routes) {
    const single = unloaded[route.name] ?? [];
    const runs = loaded[route.name] ?? [];
    const ratios = perRound.map((rates) => (rates[route.name] ?? 0) / (rates[route.against] ?? 1));
    rows.push({
      name: route.name,
      requestsPerSecond: Math.round(median(runs.map((r) => r.requests.average)) * 10) / 10,
      ratio: Math.round(median(ratios) * 100) / 100,
      roundRatios: ratios.map((r) => Math.round(r * 100) / 100),
      ratioOf: route.against,
      p50Ms: ms(percentile(single, 50)),
      p99Ms: ms(percentile(single, 99)),
      loadedP50Ms: median(runs.map((r) => r.latency.p50)),
      loadedP99Ms: median(runs.map((r) => r.latency.p99)),
      errors: runs.reduce((n, r) => n + r.errors + r.timeouts, 0),
      non2xx: runs.reduce((n, r) => n + r.non2xx, 0),
      cpuMsPerRequest: ms(cpu(route.name)),
      cpuOfBaseline: Math.round((cpu(route.name) / cpu(baselineRoute?.name)) * 100) / 100,
      cpuOfAcmeRead: Math.round((cpu(route.name) / cpu(acmeRoute?.name)) * 100) / 100,
    });
  }
  return rows;
}

async function throughputRows(
  base: string,
  setup: Setup,
  custom: CustomFieldsSetup,
  cpuMs: () => number,
): Promise<Row[]> {
  const apiAuth = { authorization: `Bearer ${setup.apiKey}` };
  const customAuth = { authorization: `Bearer ${custom.apiKey}` };
  // Prime the cache and the integration's token.
  const api = createAcmeBridgeClient({ baseUrl: base, apiKey: setup.apiKey });
  await api.GET("/api/v1/contacts/{id}", { params: { path: { id: setup.contactId } } });
  await fetch(`${base}/api/v1/contacts/${custom.contactId}`, { headers: customAuth });
  let created = 0;
  const newContact = () => {
    created += 1;
    return JSON.stringify({
      firstName: "Load",
      lastName: "Test",
      email: `load-${process.pid}-${created}-${Math.random().toString(36).slice(2)}@example.com`,
    });
  };
  const baseline = "baseline GET /health";
  const acmeRead = "Acme read (direct, with token)";
  return measureRoutes(
    [
      { name: baseline, against: baseline, options: { url: `${base}/health` } },
      {
        name: acmeRead,
        against: baseline,
        options: {
          url: `${base}/acme/v1/contacts/${setup.contactId}`,
          headers: { authorization: `Bearer ${setup.acmeToken}` },
        },
      },
      {
        name: "integration read, KV hit",
        against: baseline,
        options: { url: `${base}/api/v1/contacts/${setup.contactId}`, headers: apiAuth },
      },
      {
        name: "integration read, miss (to Acme)",
        against: acmeRead,
        options: {
          url: `${base}/api/v1/contacts/${setup.contactId}`,
          headers: { ...apiAuth, "cache-control": "no-cache" },
        },
      },
      {
        name: `KV hit, ${CUSTOM_FIELDS} custom fields`,
        against: "integration read, KV hit",
        options: { url: `${base}/api/v1/contacts/${custom.contactId}`, headers: customAuth },
      },
      {
        name: `miss, ${CUSTOM_FIELDS} custom fields`,
        against: "integration read, miss (to Acme)",
        options: {
          url: `${base}/api/v1/contacts/${custom.contactId}`,
          headers: { ...customAuth, "cache-control": "no-cache" },
        },
      },
      {
        name: "integration create",
        against: baseline,
        options: {
          url: `${base}/api/v1/contacts`,
          method: "POST",
          headers: { ...apiAuth, "content-type": "application/json" },
          requests: [
            {
              setupRequest: (request) => {
                request.body = newContact();
                return request;
              },
            },
          ],
        },
        body: newContact,
        latencyAlone: true,
      },
    ],
    () => drained(api),
    cpuMs,
  );
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Waits until the feed has stopped growing: the creates of the load runs have all been delivered. */
async function drained(api: AcmeBridgeClient) {
  let last = -1;
  let stableSince = Date.now();
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    let after = Math.max(0, last);
    for (;;) {
      const page = expectData(
        await api.GET("/api/v1/events", { params: { query: { after, limit: 500 } } }),
        200,
      );
      after = page.nextAfter;
      if (page.data.length < 500) break;
    }
    if (after !== last) {
      last = after;
      stableSince = Date.now();
    } else if (Date.now() - stableSince > 3000) {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/** Creates contacts directly at Acme and waits for each to appear in the integration's feed. */
async function pipeline(base: string, setup: Setup) {
  const acmeAuth = { authorization: `Bearer ${setup.acmeToken}`, "content-type": "application/json" };
  const api = createAcmeBridgeClient({ baseUrl: base, apiKey: setup.apiKey });
  await drained(api);
  const started = Date.now();
  let after = expectData(
    await api.GET("/api/v1/events", { params: { query: { after: 0, limit: 500 } } }),
    200,
  ).nextAfter;
  const created = new Set<string>();
  for (let i = 0; i < PIPELINE_CHANGES; i += 5) {
    const tick = Date.now();
    const batch = await Promise.all(
      Array.from({ length: Math.min(5, PIPELINE_CHANGES - i) }, (_, j) =>
        fetch(`${base}/acme/v1/contacts`, {
          method: "POST",
          headers: acmeAuth,
          body: JSON.stringify({ acme_email: `pipe-${i + j}-${crypto.randomUUID()}@example.com` }),
        }).then((r) => json<{ id: string }>(r, 201)),
      ),
    );
    for (const c of batch) created.add(c.id);
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, (5 / PIPELINE_RATE) * 1000 - (Date.now() - tick))),
    );
  }
  const latencies: number[] = [];
  const deadline = Date.now() + 120_000;
  while (latencies.length < created.size && Date.now() < deadline) {
    const page = expectData(
      await api.GET("/api/v1/events", { params: { query: { after, limit: 500 } } }),
      200,
    );
    for (const event of page.data) {
      if (created.has(event.contact.id))
        latencies.push(Date.parse(event.recordedAt) - Date.parse(event.occurredAt));
    }
    after = page.nextAfter;
    if (page.data.length === 0) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  latencies.sort((a, b) => a - b);
  return {
    ratePerSecond: PIPELINE_RATE,
    changes: created.size,
    delivered: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
}

/** Writes offered faster than Acme's quota: how much of the quota is used, and how many 429s reach Acme. */
async function rateBudget(base: string, vars: Record<string, string>) {
  const limit = 30;
  const windowSeconds = 5;
  const setup = await setUp(base, vars, { write: { limit, windowSeconds } });
  const api = createAcmeBridgeClient({ baseUrl: base, apiKey: setup.apiKey });
  await drained(api);
  let next = 0;
  let refusals = 0;
  const done: number[] = [];
  const started = Date.now();
  const worker = async () => {
    for (;;) {
      const n = next++;
      if (n >= BUDGET_WRITES) return;
      for (;;) {
        const { response: res } = await api.POST("/api/v1/contacts", {
          body: {
            firstName: "Quota",
            lastName: "Use",
            email: `quota-${n}-${crypto.randomUUID()}@example.com`,
          },
        });
        if (res.status === 201) {
          done.push(Date.now());
          break;
        }
        if (res.status !== 429) throw new Error(`unexpected ${res.status}`);
        refusals += 1;
        // A well-behaved client: back off as told.
        await new Promise((resolve) =>
          setTimeout(resolve, Number(res.headers.get("retry-after") ?? 1) * 1000),
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 40 }, worker));
  const elapsedS = (Date.now() - started) / 1000;
  const status = expectData(await api.GET("/api/v1/status"), 200);
  // Steady state. Answers come in bursts, one per Acme window (a window's calls go together
  // when it opens): the rate is the answers of the steady bursts over the time from the first
  // steady burst's start to the last burst's start, i.e. over whole window periods. The first two
  // bursts are left out (the run starts inside the window the set-up opened) and so is the last
  // (the tail).
  done.sort((a, b) => a - b);
  const bursts: number[][] = [];
  for (const [i, at] of done.entries()) {
    if (i === 0 || at - (done[i - 1] ?? at) > (windowSeconds * 1000) / 2) bursts.push([]);
    bursts[bursts.length - 1]?.push(at);
  }
  const steady = bursts.slice(2, -1);
  const span = ((bursts[bursts.length - 1]?.[0] ?? 0) - (steady[0]?.[0] ?? 0)) / 1000;
  const steadyRate = steady.length > 2 ? steady.flat().length / span : Number.NaN;
  if (process.env.BENCH_BUDGET_TRACE)
    writeFileSync(process.env.BENCH_BUDGET_TRACE, JSON.stringify(done.map((d) => d - started)));
  return {
    quota: `${limit} writes / ${windowSeconds} s`,
    writes: BUDGET_WRITES,
    seconds: Math.round(elapsedS * 10) / 10,
    quotaUsed: Math.round((steadyRate / (limit / windowSeconds)) * 1000) / 1000,
    acme429s: status.counters.acme429s,
    steadyWindows: steady.length,
    refusedFast: refusals,
  };
}

function bundleSize() {
  const outdir = mkdtempSync(join(tmpdir(), "acme-bridge-bundle-"));
  try {
    const result = spawnSync(
      process.execPath,
      [
        join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js"),
        "deploy",
        "--dry-run",
        "--env",
        "production",
        "--outdir",
        outdir,
      ],
      { cwd: ROOT, encoding: "utf8" },
    );
    if (result.status !== 0) throw new Error(result.stderr);
    // The product as deployed (env.production: the integration alone, without the mock Acme).
    const entry = readdirSync(outdir).find((name) => name.endsWith(".js"));
    if (!entry) throw new Error(`no bundle in ${outdir}`);
    const code = readFileSync(join(outdir, entry));
    return { bytes: code.length, gzipBytes: gzipSync(code).length };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

function table(rows: Row[]): string {
  const header = [
    "route",
    "req/s",
    "ratio",
    "rounds",
    "of",
    "CPU ms/req",
    "CPU of baseline",
    "CPU of Acme read",
    "p50 ms",
    "p99 ms",
    "loaded p50",
    "loaded p99",
    "errors",
  ];
  const lines = rows.map((r) => [
    r.name,
    String(r.requestsPerSecond),
    r.ratio === undefined ? "" : r.ratio.toFixed(2),
    r.roundRatios ? `${Math.min(...r.roundRatios).toFixed(2)}-${Math.max(...r.roundRatios).toFixed(2)}` : "",
    r.ratioOf ?? "",
    String(r.cpuMsPerRequest),
    String(r.cpuOfBaseline ?? ""),
    String(r.cpuOfAcmeRead ?? ""),
    String(r.p50Ms),
    String(r.p99Ms),
    String(r.loadedP50Ms),
    String(r.loadedP99Ms),
    String(r.errors + r.non2xx),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  return [fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...lines.map(fmt)].join("\n");
}

/**
 * Stops the server however the bench ends: Ctrl-C or SIGTERM stop it (and remove its state) before
 * exiting; any other exit (an uncaught error) still sends its process group SIGTERM.
 */
function stopOnExit(bench: { server: { processGroup: number }; close: () => Promise<void> }) {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping the bench server...`);
      void bench.close().finally(() => process.exit(130));
    });
  }
  process.once("exit", () => {
    try {
      process.kill(-bench.server.processGroup, "SIGTERM");
    } catch {
      // already gone
    }
  });
}

async function main() {
  console.log(`Starting wrangler dev (slots ahead ${SLOTS_AHEAD ? "on" : "off"})...`);
  const bench = await startBenchServer({ extraVars: { SESSION_SLOTS_AHEAD: String(SLOTS_AHEAD) } });
  const { server, vars } = bench;
  stopOnExit(bench);
  const burner = startCpuBurner(CPU_BURNER);
  if (burner.count > 0) console.log(`CPU burner: ${burner.count} busy processes beside the server`);
  try {
    const setup = await setUp(server.url, vars);
    console.log(
      `Measuring ${CONNECTIONS} connections x ${DURATION_S} s per route (after ${WARMUP_S} s warm-up)...`,
    );
    const rows = !runs("routes")
      ? []
      : await throughputRows(server.url, setup, await customFieldsSetUp(server.url, vars, setup), () =>
          processGroupCpuMs(server.processGroup),
        );
    console.log(`Webhook pipeline: ${PIPELINE_CHANGES} changes at Acme...`);
    const webhook = runs("pipeline") ? await pipeline(server.url, setup) : null;
    console.log(`Rate budget: ${BUDGET_WRITES} writes offered...`);
    const budget = runs("budget") ? await rateBudget(server.url, vars) : null;
    console.log("Sync jobs: backfill, import...");
    const jobs = runs("jobs") ? await jobsBench(server.url, vars, server.output) : null;
    console.log("Webhook storm: many accounts written to at Acme...");
    const storm = runs("storm")
      ? await stormBench(server.url, vars, bench.persistTo, () => processGroupCpuMs(server.processGroup))
      : null;
    const bundle = bundleSize();

    const hit = rows.find((r) => r.name.includes("hit"));
    const create = rows.find((r) => r.name.includes("create"));
    const baseline = rows[0];
    const results = {
      at: new Date().toISOString(),
      cpuBurner: burner.count,
      machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
      settings: {
        connections: CONNECTIONS,
        durationSeconds: DURATION_S,
        rounds: ROUNDS,
        slotsAhead: SLOTS_AHEAD,
      },
      routes: rows,
      webhookPipeline: webhook,
      rateBudget: budget,
      jobs,
      storm,
      bundle,
      targets: {
        kvReadRatio: { value: hit?.ratio, target: ">= 0.85" },
        kvReadCpuOfBaseline: { value: hit?.cpuOfBaseline, target: "<= 1.2" },
        kvReadAddedP50Ms: {
          value: hit && baseline ? ms(hit.p50Ms - baseline.p50Ms) : undefined,
          target: "< 2",
        },
        missRatioOfAcmeRead: { value: rows.find((r) => r.name.includes("miss"))?.ratio, target: ">= 0.80" },
        createP99OfP50: {
          value: create ? Math.round((create.p99Ms / create.p50Ms) * 10) / 10 : undefined,
          target: "<= 5",
        },
        quotaUsed: { value: budget?.quotaUsed, target: ">= 0.95" },
        acme429s: { value: budget?.acme429s, target: "0" },
        webhookP50Ms: { value: webhook?.p50Ms, target: "< 2000" },
        backfillQuotaUsed: { value: jobs?.backfill.quotaUsed, target: ">= 0.95" },
        backfillAcme429s: { value: jobs?.backfill.acme429s, target: "0" },
        importQuotaUsed: { value: jobs?.import.quotaUsed, target: ">= 0.95" },
        importAcme429s: { value: jobs?.import.acme429s, target: "0" },
        importAgainAcmeWrites: { value: jobs?.import.again.acmeWrites, target: "0" },
        stormLost: { value: storm?.feed.lost, target: "0" },
        stormDuplicated: { value: storm?.feed.duplicated, target: "0" },
        bundleGzipKB: { value: Math.round(bundle.gzipBytes / 102.4) / 10, target: "< 250" },
      },
    };
    if (rows.length > 0) console.log(`\n${table(rows)}\n`);
    if (webhook) {
      console.log(
        `webhook pipeline: ${webhook.delivered}/${webhook.changes} changes at ${webhook.ratePerSecond}/s, p50 ${webhook.p50Ms} ms, p99 ${webhook.p99Ms} ms`,
      );
    }
    if (budget) {
      console.log(
        `rate budget: ${budget.writes} writes at ${budget.quota} in ${budget.seconds} s: ${(budget.quotaUsed * 100).toFixed(1)}% of quota used in steady state, ${budget.acme429s} 429s reached Acme`,
      );
    }
    if (jobs) console.log(`sync jobs:\n${JSON.stringify(jobs, null, 2)}`);
    if (storm) {
      console.log(
        `webhook storm: ${storm.events} events over ${storm.connections} connections (${storm.writeLimitPerAccount} each): ` +
          `written in ${storm.writes.seconds} s (${storm.writes.perSecond}/s, ${storm.writes.acme429s} 429s); ` +
          `feeds complete ${storm.complete ? `${storm.completeSeconds} s after the first write, ${storm.appliedPerSecond} events/s applied (${storm.whileWriting.perSecond}/s while writing, ${storm.afterWriting?.perSecond ?? "n/a"}/s after)` : "NEVER"}; ` +
          `${storm.feed.present}/${storm.feed.expected} present, ${storm.feed.lost} lost, ${storm.feed.duplicated} duplicated, ${storm.feed.unexpected} unexpected; ` +
          `lag p50 ${storm.lagMs.p50} ms, p99 ${storm.lagMs.p99} ms (p50 at Acme before the first attempt ${storm.lagPartsMs.beforeFirstAttempt.p50} ms, ` +
          `then to the feed ${storm.lagPartsMs.firstAttemptToFeed.p50} ms); ` +
          `${storm.deliveries.count} deliveries at Acme, ${storm.deliveries.retried} retried; ` +
          `D1 +${storm.d1.growthBytes} bytes (${storm.d1.bytesPerEvent} per event); ${storm.deadLetters} dead letters; ` +
          `server CPU ${storm.serverCpuMsPerEvent} ms per event`,
      );
    }
    console.log(
      `bundle: ${(bundle.gzipBytes / 1024).toFixed(1)} KB gzip (${(bundle.bytes / 1024).toFixed(0)} KB raw)`,
    );
    console.log("\ntargets:");
    for (const [name, { value, target }] of Object.entries(results.targets))
      console.log(`  ${name}: ${value} (target ${target})`);
    writeFileSync(join(ROOT, "bench", "results.json"), `${JSON.stringify(results, null, 2)}\n`);
    console.log("\nwritten to bench/results.json");
  } finally {
    burner.stop();
    if (process.env.BENCH_SERVER_LOG) writeFileSync(process.env.BENCH_SERVER_LOG, server.output());
    await bench.close({ keepState: Boolean(process.env.BENCH_KEEP_STATE) });
    if (process.env.BENCH_KEEP_STATE) console.log(`state kept in ${bench.persistTo}`);
  }
}

await main();
