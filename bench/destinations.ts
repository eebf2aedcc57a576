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
/** Creates for the burst row's backlog (0: none): made while its destinations are disabled, then sent at once. */
const BACKLOG_CHANGES = Number(process.env.BENCH_DEST_BACKLOG ?? BURST_CHANGES);
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
  /** The feed entry's `recordedAt` (the server's clock, epoch ms), from the payload. */
  recordedAt: number | null;
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
    let recordedAt: number | null = null;
    try {
      const payload = JSON.parse(body) as DestinationPayload;
      change = `${payload.data.contact.id}:${payload.data.contact.version}`;
      recordedAt = Date.parse(payload.data.recordedAt);
    } catch {
      // counted as a bad request
    }
    this.arrivals.push({
      path: req.url ?? "",
      webhookId: headers["webhook-id"] ?? "",
      change,
      at,
      recordedAt,
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
 * arrival (on the receiver's clock, performance.now()) and its feed entry's `recordedAt`, copies beyond the first by webhook-id,
 * changes arriving under more than one webhook-id, requests for changes not written, requests the
 * reference library refused, and the missing changes.
 */
function tally(arrivals: Arrival[], dest: Dest, expected: Set<string>) {
  const mine = arrivals.filter((a) => a.path === dest.path);
  const byId = new Map<string, number>();
  const idsByChange = new Map<string, Set<string>>();
  const first = new Map<string, number>();
  const recorded = new Map<string, number>();
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
    if (!first.has(a.change)) {
      first.set(a.change, a.at);
      if (a.recordedAt !== null) recorded.set(a.change, a.recordedAt);
    }
  }
  const missing = [...expected].filter((change) => !first.has(change));
  return {
    requests: mine.length,
    first,
    recorded,
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

/**
 * The lag in two parts, cut at the feed entry's `recordedAt` (the server's clock; the bench's
 * times are taken to the epoch with `performance.timeOrigin`, the same machine's clock): from the
 * write's answer to the feed (Acme's outbox and webhook delivery, the integration's receiver, inbox
 * queue and apply), then from the feed to the receiver (the destination's courier and its POST).
 */
function lagParts() {
  const toFeed: number[] = [];
  const feedToArrival: number[] = [];
  return {
    add(w: Written, arrivedAt: number, recordedAt: number | undefined) {
      if (recordedAt === undefined) return;
      toFeed.push(recordedAt - (performance.timeOrigin + w.answeredAt));
      feedToArrival.push(performance.timeOrigin + arrivedAt - recordedAt);
    },
    result: () => ({ answerToFeedMs: spread(toFeed), feedToArrivalMs: spread(feedToArrival) }),
  };
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
    const parts = lagParts();
    for (const [change, at] of t.first) {
      const w = written.get(change);
      if (!w) continue;
      fromAnswer.push(at - w.answeredAt);
      fromStart.push(at - w.startedAt);
      parts.add(w, at, t.recorded.get(change));
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
      /** `fromAnswerMs` in two parts, at the feed entry's `recordedAt` (see lagParts). */
      ...parts.result(),
      deliveryLog: log,
      wallSeconds: round((now() - wallStarted) / 1000),
    };
  } finally {
    clearInterval(progress);
    await a.api.DELETE("/api/v1/destinations/{id}", { params: { path: { id: dest.id } } });
  }
}

/** Deliveries per second over `times` (ms, any one clock), from the first to the last. */
function rate(times: number[]) {
  if (times.length < 2) return { deliveries: times.length, seconds: null, perSecond: null };
  const seconds = (Math.max(...times) - Math.min(...times)) / 1000;
  return { deliveries: times.length, seconds: round(seconds, 2), perSecond: round(times.length / seconds) };
}

/** `n` creates at Acme, BURST_PARALLEL at a time, as fast as they are answered; each recorded in `written`. */
async function writeBurst(base: string, a: Account, n: number, tag: string, written: Map<string, Written>) {
  const firstWriteAt = now();
  let lastWriteAt = firstWriteAt;
  await eachLimited(
    Array.from({ length: n }, (_, i) => i),
    BURST_PARALLEL,
    async (i) => {
      const startedAt = now();
      const res = await post(`${base}/acme/v1/contacts`, a.acmeToken, {
        acme_first_name: "Dest",
        acme_last_name: `${tag}-${i}`,
        acme_email: `dest-${tag}-${i}-${crypto.randomUUID()}@example.com`,
      });
      const answeredAt = now();
      const contact = await json<{ id: string; acme_version: number }>(res, 201);
      written.set(`${contact.id}:${contact.acme_version}`, { startedAt, answeredAt });
      lastWriteAt = now();
    },
  );
  const seconds = (lastWriteAt - firstWriteAt) / 1000;
  return { firstWriteAt, lastWriteAt, seconds: round(seconds, 2), perSecond: round(n / seconds) };
}

/** The three destinations' first copies of `expected` among the receiver's arrivals from index `from` on. */
function copiesArrived(receiver: Receiver, from: number, dests: Dest[], expected: Set<string>): number {
  const got = new Map(dests.map((d) => [d.path, new Set<string>()]));
  for (let i = from; i < receiver.arrivals.length; i++) {
    const x = receiver.arrivals[i] as Arrival;
    if (x.change && expected.has(x.change)) got.get(x.path)?.add(x.change);
  }
  return [...got.values()].reduce((n, set) => n + set.size, 0);
}

/**
 * The burst row: three destinations, BURST_CHANGES creates as fast as the bench makes them. The
 * destinations can go no faster than the feed records the changes, so the row then measures them
 * on a backlog too (BACKLOG_CHANGES): the three disabled, the creates made and recorded in the feed,
 * `recover` since before them (pending, not sent while disabled), then the three enabled at once:
 * from the first arrival to the last, what the couriers deliver with nothing upstream to wait for.
 */
async function burstRow(base: string, vars: Record<string, string>, receiver: Receiver) {
  const wallStarted = now();
  const limits = JSON.parse(vars.ACME_RATE_LIMITS ?? "{}") as Record<string, RatePolicy>;
  const a = await account(base, vars, 1, limits, "bench destinations burst");
  await jobsFinished(a);
  const dests: Dest[] = [];
  for (const path of ["/burst/a", "/burst/b", "/burst/c"])
    dests.push(await createDestination(a, receiver, path));
  const written = new Map<string, Written>();
  let phase = "burst";
  let phaseFrom = receiver.arrivals.length;
  let phaseExpected = new Set<string>();
  const progress = setInterval(() => {
    console.log(
      `  ${phase}: ${written.size} written, ${copiesArrived(receiver, phaseFrom, dests, phaseExpected)} arrived (${round((now() - wallStarted) / 1000)} s)`,
    );
  }, 10_000);
  try {
    const writes = await writeBurst(base, a, BURST_CHANGES, "burst", written);
    const expected = new Set(written.keys());
    phaseExpected = expected;
    const complete = await arrived(
      () => expected.size * dests.length - copiesArrived(receiver, phaseFrom, dests, expected),
      () => Math.max(writes.lastWriteAt, receiver.lastArrivalAt),
    );
    await sleep(LINGER_MS);
    const tallies = dests.map((d) => tally(receiver.arrivals.slice(phaseFrom), d, expected));
    const allFirst = tallies.flatMap((t) => [...t.first.values()]);
    const fromAnswer: number[] = [];
    const parts = lagParts();
    const recordedAt = new Map<string, number>();
    for (const t of tallies)
      for (const [change, at] of t.first) {
        const w = written.get(change);
        if (!w) continue;
        fromAnswer.push(at - w.answeredAt);
        parts.add(w, at, t.recorded.get(change));
        const r = t.recorded.get(change);
        if (r !== undefined) recordedAt.set(change, r);
      }
    const lastArrival = allFirst.length ? Math.max(...allFirst) : Number.NaN;
    const burst = {
      changes: expected.size,
      destinations: dests.length,
      parallelWrites: BURST_PARALLEL,
      writes: { seconds: writes.seconds, perSecond: writes.perSecond },
      complete,
      expected: expected.size * dests.length,
      ...counts(tallies, dests),
      /** First arrival to last (every destination's first copy of every change). */
      together: rate(allFirst),
      perDestination: Object.fromEntries(
        dests.map((d, i) => [d.path, rate([...(tallies[i]?.first.values() ?? [])])]),
      ),
      /** From the first write's start to the last arrival: the whole burst. */
      firstWriteToLastArrivalSeconds: round((lastArrival - writes.firstWriteAt) / 1000, 2),
      /** From each write's answer to each destination's copy. */
      fromAnswerMs: spread(fromAnswer),
      /** `fromAnswerMs` in two parts, at the feed entry's `recordedAt` (see lagParts). */
      ...parts.result(),
      /** The changes' feed entries, recorded from the first to the last (`recordedAt`): what the destinations can follow at most. */
      feedRecorded: rate([...recordedAt.values()]),
    };

    // The backlog: the three disabled, the creates recorded in the feed, then all three enabled.
    let backlog = null;
    if (BACKLOG_CHANGES > 0) {
      phase = "backlog";
      const since = new Date().toISOString();
      const feedFrom = await feedCursor(a);
      for (const d of dests) await patchStatus(a, d, "disabled");
      phaseFrom = receiver.arrivals.length;
      written.clear();
      const backlogWrites = await writeBurst(base, a, BACKLOG_CHANGES, "backlog", written);
      const want = new Set(written.keys());
      phaseExpected = want;
      const inFeedSeconds = await feedHolds(a, feedFrom, want);
      const pending = [];
      for (const d of dests)
        pending.push(
          expectData(
            await a.api.POST("/api/v1/destinations/{id}/recover", {
              params: { path: { id: d.id } },
              body: { since },
            }),
            202,
          ).pending,
        );
      const sentWhileDisabled = receiver.arrivals.length - phaseFrom;
      const enableAt = now();
      await Promise.all(dests.map((d) => patchStatus(a, d, "enabled")));
      const backlogComplete = await arrived(
        () => want.size * dests.length - copiesArrived(receiver, phaseFrom, dests, want),
        () => Math.max(enableAt, receiver.lastArrivalAt),
      );
      await sleep(LINGER_MS);
      const backlogTallies = dests.map((d) => tally(receiver.arrivals.slice(phaseFrom), d, want));
      const backlogFirst = backlogTallies.flatMap((t) => [...t.first.values()]);
      backlog = {
        changes: want.size,
        writes: { seconds: backlogWrites.seconds, perSecond: backlogWrites.perSecond },
        /** From the last backlog write until the feed held every change (polled). */
        inFeedSeconds,
        pendingRecovered: pending,
        sentWhileDisabled,
        complete: backlogComplete,
        expected: want.size * dests.length,
        ...counts(backlogTallies, dests),
        together: rate(backlogFirst),
        perDestination: Object.fromEntries(
          dests.map((d, i) => [d.path, rate([...(backlogTallies[i]?.first.values() ?? [])])]),
        ),
        /** From the enabling PATCHes' start to the first and to the last arrival. */
        enableToFirstArrivalMs: backlogFirst.length ? round(Math.min(...backlogFirst) - enableAt) : null,
        enableToLastArrivalSeconds: backlogFirst.length
          ? round((Math.max(...backlogFirst) - enableAt) / 1000, 2)
          : null,
      };
    }
    const logs = await Promise.all(dests.map((d) => deliveryLog(a, d)));
    return {
      ...burst,
      backlog,
      deliveryLog: Object.fromEntries(dests.map((d, i) => [d.path, logs[i]])),
      wallSeconds: round((now() - wallStarted) / 1000),
    };
  } finally {
    clearInterval(progress);
    for (const d of dests)
      await a.api.DELETE("/api/v1/destinations/{id}", { params: { path: { id: d.id } } });
  }
}

/** The counts of a phase over the three destinations. */
function counts(tallies: ReturnType<typeof tally>[], dests: Dest[]) {
  return {
    arrived: tallies.reduce((n, t) => n + t.arrived, 0),
    duplicated: tallies.reduce((n, t) => n + t.duplicated, 0),
    changeUnderSeveralIds: tallies.reduce((n, t) => n + t.changeUnderSeveralIds, 0),
    unexpected: tallies.reduce((n, t) => n + t.unexpected, 0),
    unverified: tallies.reduce((n, t) => n + t.unverified, 0),
    missing: tallies.reduce((n, t) => n + t.missing.length, 0),
    missingSample: tallies.flatMap((t, i) => t.missing.slice(0, 10).map((m) => `${dests[i]?.path} ${m}`)),
  };
}

async function patchStatus(a: Account, d: Dest, status: "enabled" | "disabled"): Promise<void> {
  expectData(
    await a.api.PATCH("/api/v1/destinations/{id}", { params: { path: { id: d.id } }, body: { status } }),
    200,
  );
}

/** The connection's feed cursor now (the `after` of its next entry). */
async function feedCursor(a: Account): Promise<number> {
  let after = 0;
  for (;;) {
    const page = expectData(
      await a.api.GET("/api/v1/events", { params: { query: { after, limit: 500 } } }),
      200,
    );
    after = page.nextAfter;
    if (page.data.length < 500) return after;
  }
}

/** Waits until the feed after `after` holds every change in `want`; seconds it waited. */
async function feedHolds(a: Account, after: number, want: Set<string>): Promise<number> {
  const started = now();
  const seen = new Set<string>();
  let lastProgressAt = now();
  while ([...want].some((k) => !seen.has(k))) {
    if (now() - lastProgressAt > QUIET_S * 1000)
      throw new Error(`backlog: ${want.size - seen.size} changes never reached the feed`);
    const page = expectData(
      await a.api.GET("/api/v1/events", { params: { query: { after, limit: 500 } } }),
      200,
    );
    for (const e of page.data) {
      const key = `${e.contact.id}:${e.contact.version}`;
      if (want.has(key) && !seen.has(key)) {
        seen.add(key);
        lastProgressAt = now();
      }
    }
    after = page.nextAfter;
    if (page.data.length < 500) await sleep(250);
  }
  return round((now() - started) / 1000, 2);
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
    "of which feed to arrival p50/p99",
    "deliveries/s (first to last arrival)",
    "feed recorded/s",
    "writes",
    "wall s",
  ];
  const perDestination = (rates: Record<string, { perSecond: number | null }>) =>
    Object.entries(rates)
      .map(([path, r]) => `${path.split("/").pop()} ${r.perSecond}`)
      .join(", ");
  const k = b.backlog;
  const lines = [
    [
      "latency",
      String(l.changes),
      "1",
      `${l.arrived}/${l.changes}`,
      String(l.duplicated),
      lag(l.fromAnswerMs),
      `${l.feedToArrivalMs.p50} / ${l.feedToArrivalMs.p99}`,
      "",
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
      `${b.feedToArrivalMs.p50} / ${b.feedToArrivalMs.p99}`,
      `${b.together.perSecond} (${perDestination(b.perDestination)})`,
      String(b.feedRecorded.perSecond),
      `${b.writes.seconds} s at ${b.writes.perSecond}/s`,
      String(b.wallSeconds),
    ],
    ...(k
      ? [
          [
            "backlog (enabled at once)",
            String(k.changes),
            String(b.destinations),
            `${k.arrived}/${k.expected}`,
            String(k.duplicated),
            `enable to first ${k.enableToFirstArrivalMs} ms, to last ${k.enableToLastArrivalSeconds} s`,
            "",
            `${k.together.perSecond} (${perDestination(k.perDestination)})`,
            "",
            `${k.writes.seconds} s at ${k.writes.perSecond}/s`,
            "",
          ],
        ]
      : []),
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((x) => (x[i] ?? "").length)));
  const fmt = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  return [fmt(header), fmt(widths.map((w) => "-".repeat(w))), ...lines.map(fmt)].join("\n");
}
