// The webhook storm of `npm run bench` (BENCH_ONLY=storm): many Acme accounts, each with its own
// connection, written to directly at Acme at the pace each account's rate limit allows; how fast
// the changes reach the integration's change feeds, whether every one arrives exactly once, and
// how much the integration's D1 database grows per change. It uses the public HTTP APIs only
// (Acme's, the integration's admin and feed routes) and the size of the D1 database file, so it
// measures any storage layout behind them alike.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  type AcmeBridgeClient,
  createAcmeBridgeAdminClient,
  createAcmeBridgeClient,
} from "../client/index.ts";
import { ROOT } from "../scripts/wrangler-dev.ts";
import { acmeTokenFor, expectData, json, post } from "./setup.ts";

const STORM_EVENTS = Number(process.env.BENCH_STORM_EVENTS ?? 5000);
const STORM_CONNECTIONS = Number(process.env.BENCH_STORM_CONNECTIONS ?? 50);
/**
 * Writes per second per Acme account. Unset: as fast as the account's write limit allows (Acme's
 * default write limit from wrangler.toml's ACME_RATE_LIMITS, which each storm account is given).
 */
const STORM_RATE = process.env.BENCH_STORM_RATE ? Number(process.env.BENCH_STORM_RATE) : undefined;
/** After the last write, how long the feeds may go without a new expected change before the row gives up. */
const STORM_QUIET_S = Number(process.env.BENCH_STORM_QUIET_S ?? 60);
/** An update of a contact comes at least this many seconds' worth of its account's writes after its create. */
const UPDATE_GAP_S = 5;

export interface RatePolicy {
  limit: number;
  windowSeconds: number;
}

/**
 * Acme's production default limits (wrangler.toml's top-level ACME_RATE_LIMITS): the bench server
 * runs with limits far above any load, so each storm account is given these as its own.
 */
export function defaultAcmeRateLimits(): Record<string, RatePolicy> {
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
  const match = /^ACME_RATE_LIMITS = '(.+)'$/m.exec(toml);
  if (!match?.[1]) throw new Error("no ACME_RATE_LIMITS in wrangler.toml");
  return JSON.parse(match[1]) as Record<string, RatePolicy>;
}

/** One storm account: its Acme client and token, and its connection's id and API key. */
export interface Account {
  index: number;
  acmeToken: string;
  connectionId: string;
  /** Its webhook subscription at Acme, whose delivery log tells when each change was sent. */
  subscriptionId: string;
  api: AcmeBridgeClient;
}

type Step = { kind: "create"; contact: number } | { kind: "update"; contact: number };

/**
 * The writes of one account, `events` of them: half creates, half updates (one per created
 * contact; one more create when odd), each update at least `gap` writes after its contact's create
 * so that the create's webhook is long gone when the update's is made (the feed keeps a contact's
 * versions in order and drops an older one that arrives after a newer: same-contact changes made
 * a few milliseconds apart could be dropped by design, which this row is not about).
 */
export function stormPlan(events: number, gap: number): Step[] {
  const creates = Math.ceil(events / 2);
  const updates = events - creates;
  const steps: Step[] = [];
  let created = 0;
  let updated = 0;
  while (created < Math.min(gap, creates)) steps.push({ kind: "create", contact: created++ });
  while (created < creates || updated < updates) {
    if (updated < updates) steps.push({ kind: "update", contact: updated++ });
    if (created < creates) steps.push({ kind: "create", contact: created++ });
  }
  return steps;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const round = (n: number, places = 1) => Math.round(n * 10 ** places) / 10 ** places;

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

/** Runs `work` over `items`, `parallel` at a time. */
export async function eachLimited<T, R>(
  items: T[],
  parallel: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i] as T);
    }),
  );
  return results;
}

/** An Acme account with the given limits and a connection to it (named `name`), subscribed to its webhooks. */
export async function account(
  base: string,
  vars: Record<string, string>,
  index: number,
  rateLimits: Record<string, RatePolicy>,
  name = `bench storm ${index}`,
): Promise<Account> {
  const client = await json<{ client_id: string; client_secret: string }>(
    await post(`${base}/acme/admin/clients`, vars.ACME_ADMIN_TOKEN ?? "", {
      name,
      rate_limits: rateLimits,
    }),
    201,
  );
  const acmeToken = await acmeTokenFor(base, client.client_id, client.client_secret);
  const admin = createAcmeBridgeAdminClient({ baseUrl: base, adminToken: vars.ADMIN_TOKEN ?? "" });
  const connection = expectData(
    await admin.POST("/api/v1/admin/connections", {
      body: {
        name,
        acmeClientId: client.client_id,
        acmeClientSecret: client.client_secret,
      },
    }),
    201,
  );
  const byId = { params: { path: { id: connection.id } } };
  const key = expectData(await admin.POST("/api/v1/admin/connections/{id}/api-keys", byId), 201);
  const subscription = expectData(
    await admin.POST("/api/v1/admin/connections/{id}/webhook-subscription", byId),
    201,
  );
  return {
    index,
    acmeToken,
    connectionId: connection.id,
    subscriptionId: subscription.subscriptionId,
    api: createAcmeBridgeClient({ baseUrl: base, apiKey: key.apiKey }),
  };
}

/** Waits until the account's jobs (the backfill connecting started) have all finished. */
export async function jobsFinished(account: Account): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const jobs = expectData(await account.api.GET("/api/v1/jobs"), 200).data;
    if (jobs.every((job) => ["succeeded", "failed", "cancelled"].includes(job.status))) return;
    await sleep(500);
  }
  throw new Error(`connection ${account.connectionId}: its backfill did not finish within 120 s`);
}

/** The pending dead letters of these connections (admin API), newest first, all pages. */
async function deadLetters(base: string, adminToken: string, connectionIds: Set<string>): Promise<number> {
  const admin = createAcmeBridgeAdminClient({ baseUrl: base, adminToken });
  let count = 0;
  let before: string | undefined;
  do {
    const page = expectData(
      await admin.GET("/api/v1/admin/dead-letters", {
        params: { query: { limit: 100, pending: "true", ...(before ? { before } : {}) } },
      }),
      200,
    );
    count += page.data.filter((d) => d.connectionId && connectionIds.has(d.connectionId)).length;
    before = page.nextBefore ?? undefined;
  } while (before);
  return count;
}

/** A feed entry, as far as this row reads it. */
interface FeedEntry {
  /** Acme's event id (the `webhook-id`) for a change a webhook brought. */
  id: string;
  contactId: string;
  version: number;
  occurredAt: number;
  recordedAt: number;
  source: string;
}

/** Every entry of a connection's change feed after `after`, paging with `after`, and the new cursor. */
async function feedAfter(
  api: AcmeBridgeClient,
  after: number,
): Promise<{ entries: FeedEntry[]; after: number }> {
  const entries: FeedEntry[] = [];
  for (;;) {
    const page = expectData(
      await api.GET("/api/v1/events", { params: { query: { after, limit: 500 } } }),
      200,
    );
    for (const e of page.data) {
      entries.push({
        id: e.id,
        contactId: e.contact.id,
        version: e.contact.version,
        occurredAt: Date.parse(e.occurredAt),
        recordedAt: Date.parse(e.recordedAt),
        source: e.source,
      });
    }
    after = page.nextAfter;
    if (page.data.length < 500) return { entries, after };
  }
}

/** One change as Acme delivered it: when its first attempt was sent, and when the successful one was answered. */
interface Delivery {
  attempts: number;
  firstSentAt: number;
  answeredAt: number | null;
}

/**
 * Acme's delivery log of the account's subscription (Acme's own API, with the account's token),
 * by event id: how many attempts each change took and when they went.
 */
async function deliveries(base: string, account: Account): Promise<Map<string, Delivery>> {
  const byEvent = new Map<string, Delivery>();
  let before: string | undefined;
  do {
    const page = await json<{
      results: {
        event_id: string;
        attempts: number;
        attempt_log: { status_code: number | null; duration_ms: number; created_at: string }[];
      }[];
      paging?: { next: { before: string } };
    }>(
      await fetch(
        `${base}/acme/v1/webhooks/${account.subscriptionId}/deliveries?limit=100${before ? `&before=${before}` : ""}`,
        { headers: { authorization: `Bearer ${account.acmeToken}` } },
      ),
      200,
    );
    for (const d of page.results) {
      // An attempt is logged when its answer came: it was sent duration_ms before.
      const sent = d.attempt_log.map((a) => Date.parse(a.created_at) - a.duration_ms);
      const ok = d.attempt_log.find((a) => a.status_code !== null && a.status_code < 300);
      byEvent.set(d.event_id, {
        attempts: d.attempts,
        firstSentAt: Math.min(...sent),
        answeredAt: ok ? Date.parse(ok.created_at) : null,
      });
    }
    before = page.paging?.next.before;
  } while (before);
  return byEvent;
}

const spread = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? null };
};

/** The sizes of the integration's local D1 database (binding DB), see `integrationD1File`. */
interface D1Size {
  /** page_count x page_size as a reader sees it, WAL included: the file's size once checkpointed. */
  logicalBytes: number;
  /** Free pages inside it (reused before the file grows). */
  freeBytes: number;
  fileBytes: number;
  walBytes: number;
}

/**
 * The local sqlite file of the integration's D1 database under the server's state directory:
 * miniflare keeps one file per D1 database in v3/d1/miniflare-D1DatabaseObject, named by a hash.
 * The integration's is the one (opened read-only) with a `connections` table and no `clients`
 * table (Acme's database has `clients`).
 */
export function integrationD1File(persistTo: string): string {
  const dir = join(persistTo, "v3", "d1", "miniflare-D1DatabaseObject");
  const found = readdirSync(dir)
    .filter((name) => name.endsWith(".sqlite"))
    .map((name) => join(dir, name))
    .filter((path) => {
      const db = new DatabaseSync(path, { readOnly: true });
      try {
        const tables = new Set(
          db
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .all()
            .map((row) => String(row.name)),
        );
        return tables.has("connections") && !tables.has("clients");
      } finally {
        db.close();
      }
    });
  if (found.length !== 1)
    throw new Error(`expected one integration D1 file in ${dir}, found ${found.length}`);
  return found[0] as string;
}

export function d1Size(path: string): D1Size {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const pragma = (name: string) => Number(Object.values(db.prepare(`PRAGMA ${name}`).get() ?? {})[0] ?? 0);
    const pageSize = pragma("page_size");
    return {
      logicalBytes: pragma("page_count") * pageSize,
      freeBytes: pragma("freelist_count") * pageSize,
      fileBytes: statSync(path).size,
      walBytes: existsSync(`${path}-wal`) ? statSync(`${path}-wal`).size : 0,
    };
  } finally {
    db.close();
  }
}

/** The window Acme counted a write in, from its `RateLimit` header: calls left and seconds to its end. */
export function rateLimitLeft(res: Response): { remaining: number; resetSeconds: number } | null {
  const match = /r=(\d+);\s*t=(\d+)/.exec(res.headers.get("ratelimit") ?? "");
  return match ? { remaining: Number(match[1]), resetSeconds: Number(match[2]) } : null;
}

/**
 * The storm on a running bench server: `persistTo` is its state directory (for the D1 file),
 * `cpuMs` the server's CPU time so far (wrangler dev and workerd).
 */
export async function stormBench(
  base: string,
  vars: Record<string, string>,
  persistTo: string,
  cpuMs: () => number,
) {
  const wallStarted = Date.now();
  const limits = defaultAcmeRateLimits();
  const write = limits.write;
  if (!write) throw new Error("no write class in ACME_RATE_LIMITS");
  const limitRate = write.limit / write.windowSeconds;
  const rate = Math.min(STORM_RATE ?? limitRate, limitRate * 10);
  const intervalMs = 1000 / rate;

  console.log(`  setting up ${STORM_CONNECTIONS} Acme accounts and connections...`);
  const accounts = await eachLimited(
    Array.from({ length: STORM_CONNECTIONS }, (_, i) => i),
    5,
    (i) => account(base, vars, i, limits),
  );
  await eachLimited(accounts, 10, jobsFinished);
  const ids = new Set(accounts.map((a) => a.connectionId));
  const deadLettersBefore = await deadLetters(base, vars.ADMIN_TOKEN ?? "", ids);
  const d1File = integrationD1File(persistTo);
  const setupSeconds = (Date.now() - wallStarted) / 1000;

  // Each account's share of the events, and its plan.
  const perAccount = accounts.map(
    (_, i) => Math.floor(STORM_EVENTS / STORM_CONNECTIONS) + (i < STORM_EVENTS % STORM_CONNECTIONS ? 1 : 0),
  );
  const gap = Math.max(1, Math.ceil(UPDATE_GAP_S * rate));
  const plans = perAccount.map((events) => stormPlan(events, gap));

  // What was written: per account, the contact versions Acme answered with.
  const expected = accounts.map(() => new Set<string>());
  let writesDone = 0;
  let acme429s = 0;
  let windowWaits = 0;
  let lastWriteAt = 0;

  const d1Before = d1Size(d1File);
  const cpuBefore = cpuMs();
  const firstWriteAt = Date.now();
  const writer = async (account: Account, plan: Step[]) => {
    const contactIds: string[] = [];
    // Spread the accounts' first writes over one interval, so they do not all go at once.
    await sleep((account.index / accounts.length) * intervalMs);
    let nextAt = performance.now();
    for (const step of plan) {
      await sleep(nextAt - performance.now());
      for (;;) {
        nextAt = performance.now() + intervalMs;
        const res =
          step.kind === "create"
            ? await post(`${base}/acme/v1/contacts`, account.acmeToken, {
                acme_first_name: "Storm",
                acme_last_name: `${account.index}-${step.contact}`,
                acme_email: `storm-${account.index}-${step.contact}-${crypto.randomUUID()}@example.com`,
              })
            : await fetch(`${base}/acme/v1/contacts/${contactIds[step.contact]}`, {
                method: "PATCH",
                headers: { authorization: `Bearer ${account.acmeToken}`, "content-type": "application/json" },
                body: JSON.stringify({ acme_title: `updated ${step.contact}` }),
              });
        if (res.status === 429) {
          // Should not happen at this pace; a well-behaved client waits as told and writes again.
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
        expected[account.index]?.add(`${contact.id}:${contact.acme_version}`);
        writesDone += 1;
        lastWriteAt = Date.now();
        // The window's last write: wait for the next window rather than be refused.
        const left = rateLimitLeft(res);
        if (left && left.remaining === 0) {
          windowWaits += 1;
          nextAt = Math.max(nextAt, performance.now() + left.resetSeconds * 1000);
        }
        break;
      }
    }
  };

  // The feeds, read as they fill (for completion), each with its API key, paging with `after`.
  const cursors = accounts.map(() => 0);
  const seen = accounts.map(() => new Map<string, number>());
  let writing = true;
  let lastProgressAt = Date.now();
  let observedCompleteAt: number | null = null;
  let cpuUsed = Number.NaN;
  const incomplete = (i: number) => {
    const want = expected[i] ?? new Set();
    if (writing) return true;
    const got = seen[i] ?? new Map();
    for (const key of want) if (!got.has(key)) return true;
    return false;
  };
  const polling = (async () => {
    for (;;) {
      for (const account of accounts) {
        const i = account.index;
        if (!writing && !incomplete(i)) continue;
        const page = await feedAfter(account.api, cursors[i] ?? 0);
        cursors[i] = page.after;
        for (const e of page.entries) {
          const key = `${e.contactId}:${e.version}`;
          if (!seen[i]?.has(key)) lastProgressAt = Date.now();
          seen[i]?.set(key, e.recordedAt);
        }
      }
      if (!writing && accounts.every((a) => !incomplete(a.index))) {
        observedCompleteAt = Date.now();
        return;
      }
      if (!writing && Date.now() - Math.max(lastProgressAt, lastWriteAt) > STORM_QUIET_S * 1000) return;
      // Sparse while writing (the feeds' readers load the same machine), then every second.
      await sleep(writing ? 5000 : 1000);
    }
  })();
  // Settled either way, so that a failed read is reported by the row, never left unhandled.
  const poller = polling.then(
    () => null,
    (error: unknown) => error,
  );
  const progress = setInterval(() => {
    const arrived = seen.reduce((n, s) => n + s.size, 0);
    console.log(
      `  ${round((Date.now() - firstWriteAt) / 1000)} s: ${writesDone}/${STORM_EVENTS} written, ${arrived} in the feeds`,
    );
  }, 10_000);
  try {
    await Promise.all(accounts.map((account, i) => writer(account, plans[i] ?? [])));
    writing = false;
    const failed = await poller;
    if (failed) throw failed;
    cpuUsed = cpuMs() - cpuBefore;
  } finally {
    writing = false;
    clearInterval(progress);
  }

  // Once more, every feed from its start after a pause, for the counts: every entry, duplicates
  // that came late included.
  await sleep(5000);
  const entries = await eachLimited(accounts, 5, async (a) => (await feedAfter(a.api, 0)).entries);
  const d1After = d1Size(d1File);
  const deadLettersAfter = await deadLetters(base, vars.ADMIN_TOKEN ?? "", ids);
  const delivered = await eachLimited(accounts, 5, (a) => deliveries(base, a));

  let expectedCount = 0;
  let present = 0;
  let duplicated = 0;
  let unexpected = 0;
  let lastRecordedAt = 0;
  let appliedWhileWriting = 0;
  const sources: Record<string, number> = {};
  const lags: number[] = [];
  // The lag in two parts, from Acme's delivery log: waiting at Acme until the first attempt went
  // (the mock's outbox and deliveries queue), and from then to the feed (the integration's
  // receiver, inbox queue and apply, and any attempts after the first). An attempt's start is
  // exact (its log time less its duration, both taken when Acme's consumer next ran); its answer
  // time is not (that consumer may run long after the answer came), so the lag is cut there.
  const atAcme: number[] = [];
  const toFeed: number[] = [];
  const lost: string[] = [];
  for (const [i, want] of expected.entries()) {
    const counts = new Map<string, number>();
    for (const e of entries[i] ?? []) {
      const key = `${e.contactId}:${e.version}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      sources[e.source] = (sources[e.source] ?? 0) + 1;
      if (!want.has(key)) {
        unexpected += 1;
        continue;
      }
      if ((counts.get(key) ?? 0) > 1) {
        duplicated += 1;
        continue;
      }
      lags.push(e.recordedAt - e.occurredAt);
      const delivery = delivered[i]?.get(e.id);
      if (delivery) {
        atAcme.push(delivery.firstSentAt - e.occurredAt);
        toFeed.push(e.recordedAt - delivery.firstSentAt);
      }
      lastRecordedAt = Math.max(lastRecordedAt, e.recordedAt);
      if (e.recordedAt <= lastWriteAt) appliedWhileWriting += 1;
    }
    expectedCount += want.size;
    for (const key of want) {
      if (counts.has(key)) present += 1;
      else lost.push(`${accounts[i]?.connectionId} ${key}`);
    }
  }
  lags.sort((a, b) => a - b);
  const complete = lost.length === 0;
  // The feeds were complete when the last expected change was recorded (the server's clock, this
  // machine's), whatever the readers' polling interval.
  const completeSeconds = complete ? (lastRecordedAt - firstWriteAt) / 1000 : null;
  const writeSeconds = (lastWriteAt - firstWriteAt) / 1000;
  const growth = d1After.logicalBytes - d1Before.logicalBytes;
  return {
    connections: STORM_CONNECTIONS,
    events: STORM_EVENTS,
    creates: plans.flat().filter((s) => s.kind === "create").length,
    updates: plans.flat().filter((s) => s.kind === "update").length,
    writeLimitPerAccount: `${write.limit} writes / ${write.windowSeconds} s`,
    pacePerAccountPerSecond: round(rate, 2),
    setupSeconds: round(setupSeconds),
    writes: {
      done: writesDone,
      seconds: round(writeSeconds),
      perSecond: round(writesDone / writeSeconds),
      acme429s,
      windowWaits,
    },
    feed: {
      expected: expectedCount,
      present,
      lost: lost.length,
      duplicated,
      unexpected,
      sources,
      // The first few lost, to look up (connection, contact:version).
      lostSample: lost.slice(0, 20),
    },
    complete,
    /** From the first write until every connection's feed held every version written. */
    completeSeconds: completeSeconds === null ? null : round(completeSeconds, 2),
    /** When the readers saw it (polling every second once the writes were done). */
    observedCompleteSeconds:
      observedCompleteAt === null ? null : round(((observedCompleteAt as number) - firstWriteAt) / 1000, 2),
    /** Events that reached the feeds per second, from the first write to the feeds' completion. */
    appliedPerSecond: completeSeconds ? round(present / completeSeconds) : null,
    /** Split at the last write: how fast changes were applied beside the writes, and after them. */
    whileWriting: { applied: appliedWhileWriting, perSecond: round(appliedWhileWriting / writeSeconds) },
    afterWriting: completeSeconds
      ? {
          applied: present - appliedWhileWriting,
          seconds: round(completeSeconds - writeSeconds),
          // Not a rate when the feeds were complete within a second of the last write.
          perSecond:
            completeSeconds - writeSeconds >= 1
              ? round((present - appliedWhileWriting) / (completeSeconds - writeSeconds))
              : null,
        }
      : null,
    /** The server's CPU time (wrangler dev and workerd) from the first write until the readers saw the feeds complete, per event: writes, deliveries, applies and feed reads. */
    serverCpuMsPerEvent: round(cpuUsed / STORM_EVENTS, 2),
    lagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), max: lags[lags.length - 1] ?? null },
    /** `lagMs` in two parts, for the changes found in Acme's delivery log (see where they are counted). */
    lagPartsMs: {
      changes: atAcme.length,
      beforeFirstAttempt: spread(atAcme),
      firstAttemptToFeed: spread(toFeed),
    },
    /** Acme's delivery log: deliveries made, and those that took more than one attempt. */
    deliveries: {
      count: delivered.reduce((n, d) => n + d.size, 0),
      retried: delivered.reduce((n, d) => n + [...d.values()].filter((x) => x.attempts > 1).length, 0),
      unanswered: delivered.reduce(
        (n, d) => n + [...d.values()].filter((x) => x.answeredAt === null).length,
        0,
      ),
    },
    deadLetters: deadLettersAfter - deadLettersBefore,
    d1: {
      file: d1File.slice(persistTo.length + 1),
      before: d1Before,
      after: d1After,
      growthBytes: growth,
      bytesPerEvent: present > 0 ? round(growth / present) : null,
      fileGrowthBytes: d1After.fileBytes + d1After.walBytes - (d1Before.fileBytes + d1Before.walBytes),
    },
    wallSeconds: round((Date.now() - wallStarted) / 1000),
  };
}
