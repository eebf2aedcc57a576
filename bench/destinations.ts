// Destinations in `npm run bench` (BENCH_ONLY=destinations): changes made directly at Acme, pushed
// by the integration to receivers the bench runs (node:http on 127.0.0.1; the bench server's local
// settings allow loopback destinations). Two rows, each on an Acme account and connection of its
// own, made through the admin APIs:
//
// - latency: one destination, changes at a steady moderate pace within the account's write limit
//   (Acme's production default); for each change, the time from the answer to its Acme write to its
//   arrival at the receiver, matched by the payload's contact id and version;
// - burst: three destinations, a burst of creates as fast as the bench can make them (an Acme
//   client with limits far above the load); deliveries per second to the three together, from the
//   first arrival to the last, and to each.
//
// Public APIs only: Acme's, the integration's admin and destination routes, and what the receivers
// got. Every request a receiver got is checked afterwards with the Standard Webhooks reference
// library and the destination's secret.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";
import { Webhook } from "standardwebhooks";
import type { DeliveryAttempt, DestinationPayload } from "../client/index.ts";
import { expectData, json, post } from "./setup.ts";
import {
  type Account,
  account,
  defaultAcmeRateLimits,
  eachLimited,
  jobsFinished,
  percentile,
  type RatePolicy,
  rateLimitLeft,
  sleep,
  stormPlan,
} from "./storm.ts";

/** Changes made at Acme for the latency row. */
const LATENCY_CHANGES = Number(process.env.BENCH_DEST_CHANGES ?? 300);
/** Their pace, writes per second (5: the default write limit's, 50 per 10 s). */
const LATENCY_RATE = Number(process.env.BENCH_DEST_RATE ?? 5);
/** Creates made at Acme for the burst row, each delivered to three destinations. */
const BURST_CHANGES = Number(process.env.BENCH_DEST_BURST ?? 1000);
/** Burst writes in flight at once. */
const BURST_PARALLEL = Number(process.env.BENCH_DEST_BURST_PARALLEL ?? 10);
/** How long a row waits without a new arrival (after its last write) before it reports what is missing. */
const QUIET_S = Number(process.env.BENCH_DEST_QUIET_S ?? 60);
/** After the last expected arrival, how long a row keeps listening for late duplicates. */
const LINGER_MS = 5000;
/** An update of a contact comes at least this many seconds' worth of writes after its create (see stormPlan). */
const UPDATE_GAP_S = 5;

const round = (n: number, places = 1) => Math.round(n * 10 ** places) / 10 ** places;
const now = () => performance.now();

function spread(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50: round(percentile(sorted, 50)),
    p99: round(percentile(sorted, 99)),
    max: sorted.length ? round(sorted[sorted.length - 1] as number) : null,
  };
}

/** One request a receiver got. */
interface Arrival {
  path: string;
  webhookId: string;
  /** `contactId:version` from the payload, or null when the body was no payload. */
  change: string | null;
  /** performance.now() when its body had arrived. */
  at: number;
  headers: Record<string, string>;
  body: string;
}

/** A loopback HTTP receiver answering 200 to everything, recording each request. */
class Receiver {
  readonly arrivals: Arrival[] = [];
  lastArrivalAt = 0;
  private readonly sockets = new Set<Socket>();

  private readonly server: Server;
  readonly port: number;

  private constructor(server: Server, port: number) {
    this.server = server;
    this.port = port;
  }

  static async start(): Promise<Receiver> {
    let receiver: Receiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end("ok");
        receiver?.take(req, Buffer.concat(chunks).toString("utf8"));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    if (typeof address !== "object" || !address) throw new Error("receiver: no port");
    receiver = new Receiver(server, address.port);
    const sockets = receiver.sockets;
    server.on("connection", (socket) => {
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
    });
    return receiver;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  private take(req: IncomingMessage, body: string): void {
    const at = now();
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    let change: string | null = null;
    try {
      const payload = JSON.parse(body) as DestinationPayload;
      change = `${payload.data.contact.id}:${payload.data.contact.version}`;
    } catch {
      // counted as a bad request
    }
    this.arrivals.push({
      path: req.url ?? "",
      webhookId: headers["webhook-id"] ?? "",
      change,
      at,
      headers,
      body,
    });
    this.lastArrivalAt = at;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A destination made through the integration API, and its receiver path. */
interface Dest {
  id: string;
  path: string;
  secret: string;
}

async function createDestination(a: Account, receiver: Receiver, path: string): Promise<Dest> {
  const created = expectData(
    await a.api.POST("/api/v1/destinations", {
      body: { url: receiver.url(path), description: `bench ${path}` },
    }),
    201,
  );
  return { id: created.id, path, secret: created.secret };
}

/** The destination's delivery log (all pages): attempts, and how many were not the first or not a 2xx. */
async function deliveryLog(a: Account, dest: Dest) {
  let attempts = 0;
  let retries = 0;
  let unsuccessful = 0;
  const failedDeliveries = new Set<string>();
  let cursor: string | null = null;
  do {
    const page: { data: DeliveryAttempt[]; nextCursor: string | null } = expectData(
      await a.api.GET("/api/v1/destinations/{id}/deliveries", {
        params: { path: { id: dest.id }, query: { limit: 100, ...(cursor ? { cursor } : {}) } },
      }),
      200,
    );
    for (const attempt of page.data) {
      attempts += 1;
      if (attempt.attempt > 1) retries += 1;
      const status = attempt.responseStatus;
      if (status === null || status < 200 || status >= 300) unsuccessful += 1;
      if (attempt.status === "failed") failedDeliveries.add(attempt.deliveryId);
    }
    cursor = page.nextCursor;
  } while (cursor);
  return { attempts, retries, unsuccessful, failed: failedDeliveries.size };
}

/**
 * What a destination got, against the changes written (`contactId:version`): each change's first
 * arrival (on the receiver's clock, performance.now()), copies beyond the first by webhook-id,
 * changes arriving under more than one webhook-id, requests for changes not written, requests the
 * reference library refused, and the missing changes.
 */
function tally(arrivals: Arrival[], dest: Dest, expected: Set<string>) {
  const mine = arrivals.filter((a) => a.path === dest.path);
  const byId = new Map<string, number>();
  const idsByChange = new Map<string, Set<string>>();
  const first = new Map<string, number>();
  let duplicated = 0;
  let unexpected = 0;
  let unverified = 0;
  const verifier = new Webhook(dest.secret);
  for (const a of mine) {
    try {
      verifier.verify(a.body, a.headers);
    } catch {
      unverified += 1;
    }
    byId.set(a.webhookId, (byId.get(a.webhookId) ?? 0) + 1);
    if ((byId.get(a.webhookId) ?? 0) > 1) duplicated += 1;
    if (a.change === null || !expected.has(a.change)) {
      unexpected += 1;
      continue;
    }
    const ids = idsByChange.get(a.change) ?? new Set<string>();
    ids.add(a.webhookId);
    idsByChange.set(a.change, ids);
    if (!first.has(a.change)) first.set(a.change, a.at);
  }
  const missing = [...expected].filter((change) => !first.has(change));
  return {
    requests: mine.length,
    first,
    arrived: first.size,
    duplicated,
    changeUnderSeveralIds: [...idsByChange.values()].filter((ids) => ids.size > 1).length,
    unexpected,
    unverified,
    missing,
  };
}

/**
 * Waits until `missing()` is 0, or nothing has arrived or been written for QUIET_S; true when
 * nothing is missing.
 */
async function arrived(missing: () => number, lastActivity: () => number): Promise<boolean> {
  for (;;) {
    if (missing() === 0) return true;
    if (now() - lastActivity() > QUIET_S * 1000) return false;
    await sleep(100);
  }
}

/** One change written at Acme: when its request started and when its answer came. */
interface Written {
  startedAt: number;
  answeredAt: number;
}

/** The latency row: one destination, changes at a steady pace within the account's write limit. */
async function latencyRow(base: string, vars: Record<string, string>, receiver: Receiver) {
  const wallStarted = now();
  const limits = defaultAcmeRateLimits();
  const write = limits.write;
  if (!write) throw new Error("no write class in ACME_RATE_LIMITS");
  const a = await account(base, vars, 0, limits, "bench destinations latency");
  await jobsFinished(a);
  const dest = await createDestination(a, receiver, "/latency");
  const intervalMs = 1000 / LATENCY_RATE;
  const plan = stormPlan(LATENCY_CHANGES, Math.max(1, Math.ceil(UPDATE_GAP_S * LATENCY_RATE)));
  const written = new Map<string, Written>();
  const contactIds: string[] = [];
  let acme429s = 0;
  let windowWaits = 0;
  let lastWriteAt = now();
  const expected = new Set<string>();
  const firstArrivals = () => {
    const got = new Set<string>();
    for (const x of receiver.arrivals) if (x.path === dest.path && x.change) got.add(x.change);
    return got;
  };
  const progress = setInterval(() => {
    console.log(
      `  latency: ${written.size}/${LATENCY_CHANGES} written, ${firstArrivals().size} arrived (${round((now() - wallStarted) / 1000)} s)`,
    );
  }, 10_000);
  const firstWriteAt = now();
  try {
    let nextAt = now();
    for (const step of plan) {
      await sleep(nextAt - now());
      for (;;) {
        nextAt = now() + intervalMs;
        const startedAt = now();
        const res =
          step.kind === "create"
            ? await post(`${base}/acme/v1/contacts`, a.acmeToken, {
                acme_first_name: "Dest",
                acme_last_name: `latency-${step.contact}`,
                acme_email: `dest-latency-${step.contact}-${crypto.randomUUID()}@example.com`,
              })
            : await fetch(`${base}/acme/v1/contacts/${contactIds[step.contact]}`, {
                method: "PATCH",
                headers: { authorization: `Bearer ${a.acmeToken}`, "content-type": "application/json" },
                body: JSON.stringify({ acme_title: `updated ${step.contact}` }),
              });
        const answeredAt = now();
        if (res.status === 429) {
          acme429s += 1;
          await res.arrayBuffer();
          await sleep(Number(res.headers.get("retry-after") ?? 1) * 1000);
          continue;
        }
        const contact = await json<{ id: string; acme_version: number }>(
          res,
          step.kind === "create" ? 201 : 200,
        );
        if (step.kind === "create") contactIds[step.contact] = contact.id;
        const key = `${contact.id}:${contact.acme_version}`;
        written.set(key, { startedAt, answeredAt });
        expected.add(key);
        lastWriteAt = now();
        const left = rateLimitLeft(res);
        if (left && left.remaining === 0) {
          windowWaits += 1;
          nextAt = Math.max(nextAt, now() + left.resetSeconds * 1000);
        }
        break;
      }
    }
    const writeSeconds = (lastWriteAt - firstWriteAt) / 1000;
    let got = firstArrivals();
    const complete = await arrived(
      () => {
        got = firstArrivals();
        return [...expected].filter((k) => !got.has(k)).length;
      },
      () => Math.max(lastWriteAt, receiver.lastArrivalAt),
    );
    await sleep(LINGER_MS);
    const t = tally(receiver.arrivals, dest, expected);
    const fromAnswer: number[] = [];
    const fromStart: number[] = [];
    for (const [change, at] of t.first) {
      const w = written.get(change);
      if (!w) continue;
      fromAnswer.push(at - w.answeredAt);
      fromStart.push(at - w.startedAt);
    }
    const log = await deliveryLog(a, dest);
    return {
      changes: written.size,
      creates: plan.filter((s) => s.kind === "create").length,
      updates: plan.filter((s) => s.kind === "update").length,
      writeLimit: `${write.limit} writes / ${write.windowSeconds} s`,
      ratePerSecond: LATENCY_RATE,
      writes: {
        seconds: round(writeSeconds),
        perSecond: round(written.size / writeSeconds),
        acme429s,
        windowWaits,
      },
      complete,
      arrived: t.arrived,
      requests: t.requests,
      duplicated: t.duplicated,
      changeUnderSeveralIds: t.changeUnderSeveralIds,
      unexpected: t.unexpected,
      unverified: t.unverified,
      missing: t.missing.length,
      missingSample: t.missing.slice(0, 20),
      /** From the write's answer (its response headers in) to the change's first arrival at the receiver. */
      fromAnswerMs: spread(fromAnswer),
      /** From the write's request start. */
      fromRequestStartMs: spread(fromStart),
      deliveryLog: log,
      wallSeconds: round((now() - wallStarted) / 1000),
    };
  } finally {
    clearInterval(progress);
    await a.api.DELETE("/api/v1/destinations/{id}", { params: { path: { id: dest.id } } });
  }
}

/** The burst row: three destinations, BURST_CHANGES creates as fast as the bench makes them. */
async function burstRow(base: string, vars: Record<string, string>, receiver: Receiver) {
  const wallStarted = now();
  const limits = JSON.parse(vars.ACME_RATE_LIMITS ?? "{}") as Record<string, RatePolicy>;
  const a = await account(base, vars, 1, limits, "bench destinations burst");
  await jobsFinished(a);
  const dests: Dest[] = [];
  for (const path of ["/burst/a", "/burst/b", "/burst/c"])
    dests.push(await createDestination(a, receiver, path));
  const written = new Map<string, Written>();
  const expected = new Set<string>();
  let lastWriteAt = now();
  let firstByPath = new Map<string, Set<string>>();
  const count = () => {
    firstByPath = new Map(dests.map((d) => [d.path, new Set<string>()]));
    for (const x of receiver.arrivals) if (x.change) firstByPath.get(x.path)?.add(x.change);
    return [...firstByPath.values()].reduce((n, s) => n + s.size, 0);
  };
  const progress = setInterval(() => {
    console.log(
      `  burst: ${written.size}/${BURST_CHANGES} written, ${count()}/${3 * BURST_CHANGES} arrived (${round((now() - wallStarted) / 1000)} s)`,
    );
  }, 10_000);
  try {
    const firstWriteAt = now();
    await eachLimited(
      Array.from({ length: BURST_CHANGES }, (_, i) => i),
      BURST_PARALLEL,
      async (i) => {
        const startedAt = now();
        const res = await post(`${base}/acme/v1/contacts`, a.acmeToken, {
          acme_first_name: "Dest",
          acme_last_name: `burst-${i}`,
          acme_email: `dest-burst-${i}-${crypto.randomUUID()}@example.com`,
        });
        const answeredAt = now();
        const contact = await json<{ id: string; acme_version: number }>(res, 201);
        const key = `${contact.id}:${contact.acme_version}`;
        written.set(key, { startedAt, answeredAt });
        expected.add(key);
        lastWriteAt = now();
      },
    );
    const writeSeconds = (lastWriteAt - firstWriteAt) / 1000;
    const complete = await arrived(
      () => expected.size * dests.length - count(),
      () => Math.max(lastWriteAt, receiver.lastArrivalAt),
    );
    await sleep(LINGER_MS);
    const tallies = dests.map((d) => tally(receiver.arrivals, d, expected));
    const allFirst = tallies.flatMap((t) => [...t.first.values()]);
    const rate = (times: number[]) => {
      if (times.length < 2) return { deliveries: times.length, seconds: null, perSecond: null };
      const seconds = (Math.max(...times) - Math.min(...times)) / 1000;
      return {
        deliveries: times.length,
        seconds: round(seconds, 2),
        perSecond: round(times.length / seconds),
      };
    };
    const fromAnswer: number[] = [];
    for (const t of tallies)
      for (const [change, at] of t.first) {
        const w = written.get(change);
        if (w) fromAnswer.push(at - w.answeredAt);
      }
    const logs = await Promise.all(dests.map((d) => deliveryLog(a, d)));
    const lastArrival = allFirst.length ? Math.max(...allFirst) : Number.NaN;
    return {
      changes: written.size,
      destinations: dests.length,
      parallelWrites: BURST_PARALLEL,
      writes: { seconds: round(writeSeconds, 2), perSecond: round(written.size / writeSeconds) },
      complete,
      expected: expected.size * dests.length,
      arrived: tallies.reduce((n, t) => n + t.arrived, 0),
      duplicated: tallies.reduce((n, t) => n + t.duplicated, 0),
      changeUnderSeveralIds: tallies.reduce((n, t) => n + t.changeUnderSeveralIds, 0),
      unexpected: tallies.reduce((n, t) => n + t.unexpected, 0),
      unverified: tallies.reduce((n, t) => n + t.unverified, 0),
      missing: tallies.reduce((n, t) => n + t.missing.length, 0),
      missingSample: tallies.flatMap((t, i) => t.missing.slice(0, 10).map((m) => `${dests[i]?.path} ${m}`)),
      /** First arrival to last (every destination's first copy of every change). */
      together: rate(allFirst),
      perDestination: Object.fromEntries(
        dests.map((d, i) => [d.path, rate([...(tallies[i]?.first.values() ?? [])])]),
      ),
      /** From the first write's start to the last arrival: the whole burst. */
      firstWriteToLastArrivalSeconds: round((lastArrival - firstWriteAt) / 1000, 2),
      firstWriteToFirstArrivalMs: allFirst.length ? round(Math.min(...allFirst) - firstWriteAt) : null,
      /** From each write's answer to each destination's copy. */
      fromAnswerMs: spread(fromAnswer),
      deliveryLog: Object.fromEntries(dests.map((d, i) => [d.path, logs[i]])),
      wallSeconds: round((now() - wallStarted) / 1000),
    };
  } finally {
    clearInterval(progress);
    for (const d of dests)
      await a.api.DELETE("/api/v1/destinations/{id}", { params: { path: { id: d.id } } });
  }
}

/** Both rows on a running bench server, with the receiver open for their length. */
export async function destinationsBench(base: string, vars: Record<string, string>) {
  const wallStarted = now();
  const receiver = await Receiver.start();
  try {
    console.log(`  latency: ${LATENCY_CHANGES} changes at ${LATENCY_RATE}/s, one destination...`);
    const latency = await latencyRow(base, vars, receiver);
    console.log(`  burst: ${BURST_CHANGES} creates, ${BURST_PARALLEL} at once, three destinations...`);
    const burst = await burstRow(base, vars, receiver);
    const bad = receiver.arrivals.filter((x) => x.change === null).length;
    return { latency, burst, badRequests: bad, wallSeconds: round((now() - wallStarted) / 1000) };
  } finally {
    await receiver.close();
  }
}

/** The printed table of both rows. */
export function destinationsTable(d: Awaited<ReturnType<typeof destinationsBench>>): string {
  const { latency: l, burst: b } = d;
  const lag = (x: { p50: number; p99: number; max: number | null }) => `${x.p50} / ${x.p99} / ${x.max}`;
  const header = [
    "row",
    "changes",
    "dest.",
    "arrived",
    "dup.",
    "answer to arrival p50/p99/max ms",
    "deliveries/s (first to last arrival)",
    "writes",
    "wall s",
  ];
  const perDestination = Object.entries(b.perDestination)
    .map(([path, r]) => `${path.split("/").pop()} ${r.perSecond}`)
    .join(", ");
  const lines = [
    [
      "latency",
      String(l.changes),
      "1",
      `${l.arrived}/${l.changes}`,
      String(l.duplicated),
      lag(l.fromAnswerMs),
      "",
      `${l.writes.seconds} s at ${l.writes.perSecond}/s, ${l.writes.acme429s} 429s`,
      String(l.wallSeconds),
    ],
    [
      "burst",
      String(b.changes),
      String(b.destinations),
      `${b.arrived}/${b.expected}`,
      String(b.duplicated),
      lag(b.fromAnswerMs),
      `${b.together.perSecond} (${perDestination})`,
      `${b.writes.seconds} s at ${b.writes.perSecond}/s`,
      String(b.wallSeconds),
    ],
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((x) => (x[i] ?? "").length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  return [fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...lines.map(fmt)].join("\n");
}
