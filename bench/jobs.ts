// The sync jobs' part of `npm run bench` (BENCH_ONLY=jobs): a backfill of many contacts at a small
// read quota, an import at a small write quota (and the same file again), and interactive reads
// made during each, with their latency.
import type { Job } from "../client/index.ts";

const BACKFILL_CONTACTS = Number(process.env.BENCH_BACKFILL_CONTACTS ?? 10_000);
const IMPORT_ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 600);
const IMPORT_INVALID = Math.round(IMPORT_ROWS / 100);

interface Account {
  apiKey: string;
  connectionId: string;
  acmeToken: string;
}

function call(base: string, path: string, token: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${base}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...init.headers },
  });
}

async function ok<T>(res: Response, status: number): Promise<T> {
  if (res.status !== status) throw new Error(`${res.url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function acmeClient(base: string, vars: Record<string, string>, rateLimits: unknown) {
  const client = await ok<{ client_id: string; client_secret: string }>(
    await call(base, "/acme/admin/clients", vars.ACME_ADMIN_TOKEN ?? "", {
      method: "POST",
      body: JSON.stringify({ name: "bench jobs", rate_limits: rateLimits }),
    }),
    201,
  );
  const token = await ok<{ access_token: string }>(
    await fetch(`${base}/acme/oauth/token`, {
      method: "POST",
      headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
      body: new URLSearchParams({ grant_type: "client_credentials" }),
    }),
    200,
  );
  return { ...client, acmeToken: token.access_token };
}

async function connect(
  base: string,
  vars: Record<string, string>,
  client: { client_id: string; client_secret: string; acmeToken: string },
): Promise<Account> {
  const admin = vars.ADMIN_TOKEN ?? "";
  const connection = await ok<{ id: string }>(
    await call(base, "/api/v1/admin/connections", admin, {
      method: "POST",
      body: JSON.stringify({
        name: "bench jobs",
        acmeClientId: client.client_id,
        acmeClientSecret: client.client_secret,
      }),
    }),
    201,
  );
  const key = await ok<{ apiKey: string }>(
    await call(base, `/api/v1/admin/connections/${connection.id}/api-keys`, admin, { method: "POST" }),
    201,
  );
  return { apiKey: key.apiKey, connectionId: connection.id, acmeToken: client.acmeToken };
}

async function untilFinished(base: string, apiKey: string, id: string): Promise<Job> {
  for (;;) {
    const job = await ok<Job>(await call(base, `/api/v1/jobs/${id}`, apiKey), 200);
    if (["succeeded", "failed", "cancelled"].includes(job.status)) return job;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Interactive reads of one contact while `work` runs, each revalidated at Acme (no-cache), one
 * every `everyMs`: their statuses and latency percentiles.
 */
async function readsDuring<T>(
  base: string,
  apiKey: string,
  contactId: string,
  everyMs: number,
  work: Promise<T>,
) {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let running = true;
  const reader = (async () => {
    while (running) {
      const started = performance.now();
      const res = await call(base, `/api/v1/contacts/${contactId}`, apiKey, {
        headers: { "cache-control": "no-cache" },
      });
      await res.arrayBuffer();
      latencies.push(performance.now() - started);
      const key = `${res.status}${res.headers.get("x-cache") ? ` ${res.headers.get("x-cache")}` : ""}`;
      statuses[key] = (statuses[key] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  const result = await work;
  running = false;
  await reader;
  latencies.sort((a, b) => a - b);
  const at = (p: number) =>
    Math.round(
      (latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0) * 10,
    ) / 10;
  return {
    result,
    reads: { count: latencies.length, statuses, p50Ms: at(50), p99Ms: at(99), maxMs: at(100) },
  };
}

async function feedCount(
  base: string,
  apiKey: string,
): Promise<{ events: number; contacts: number; sources: Record<string, number> }> {
  const ids = new Set<string>();
  const sources: Record<string, number> = {};
  let after = 0;
  let events = 0;
  for (;;) {
    const page = await ok<{ data: { contact: { id: string }; source: string }[]; nextAfter: number }>(
      await call(base, `/api/v1/events?after=${after}&limit=500`, apiKey),
      200,
    );
    if (page.data.length === 0) return { events, contacts: ids.size, sources };
    for (const e of page.data) {
      ids.add(e.contact.id);
      sources[e.source] = (sources[e.source] ?? 0) + 1;
    }
    events += page.data.length;
    after = page.nextAfter;
  }
}

async function status(base: string, apiKey: string) {
  return ok<{ counters: { acme429s: number; calls: number } }>(
    await call(base, "/api/v1/status", apiKey),
    200,
  );
}

const seconds = (job: Job) => (Date.parse(job.finishedAt ?? "") - Date.parse(job.startedAt ?? "")) / 1000;
const round = (n: number, places = 3) => Math.round(n * 10 ** places) / 10 ** places;

/** Creates `count` contacts at Acme, `parallel` at a time; returns one id. */
async function seedAcme(base: string, token: string, count: number, parallel = 16): Promise<string> {
  let next = 0;
  let first = "";
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let n = next++; n < count; n = next++) {
        const body = {
          acme_first_name: "Seed",
          acme_last_name: String(n),
          acme_email: `seed-${n}-${crypto.randomUUID()}@example.com`,
        };
        const created = await ok<{ id: string }>(
          await call(base, "/acme/v1/contacts", token, { method: "POST", body: JSON.stringify(body) }),
          201,
        );
        first ||= created.id;
      }
    }),
  );
  return first;
}

/**
 * The server log's Acme requests from `from` on (its length before), as logged by Acme: each
 * with the rate window Acme counted it in (when that window opened, epoch ms).
 */
function acmeRequests(output: string, from: number) {
  const requests: { method: string; path: string; status: number; rateWindow: number | null }[] = [];
  for (const line of output.slice(from).split("\n")) {
    if (!line.includes('"message":"acme request"')) continue;
    try {
      const entry = JSON.parse(line) as { method: string; path: string; status: number; rateWindow?: string };
      const rateWindow = entry.rateWindow ? Date.parse(entry.rateWindow) : null;
      requests.push({ method: entry.method, path: entry.path, status: entry.status, rateWindow });
    } catch {
      // not a log line of ours
    }
  }
  return requests;
}

const isWrite = (r: { method: string; path: string }) =>
  ["POST", "PATCH", "PUT"].includes(r.method) && r.path.startsWith("/acme/v1/contacts");

/**
 * How full Acme's windows were: the calls Acme counted in one rate class, grouped by the window
 * Acme counted each in (its own record, from the log line), in the order the windows opened. The
 * steady-state share is calls over capacity in every window but the last, which the job's end
 * cuts short. Throws if a call has no window (a log line from before Acme logged it).
 */
function windowsFilled(calls: { rateWindow: number | null }[], limit: number) {
  const perWindow = new Map<number, number>();
  for (const { rateWindow } of calls) {
    if (rateWindow === null) throw new Error("an Acme call without its rate window in the log");
    perWindow.set(rateWindow, (perWindow.get(rateWindow) ?? 0) + 1);
  }
  const counts = [...perWindow.entries()].sort(([a], [b]) => a - b).map(([, count]) => count);
  const full = counts.slice(0, -1);
  const used = full.reduce((a, b) => a + b, 0) / Math.max(1, full.length * limit);
  return { calls: calls.length, perWindow: counts, steadyStateShare: round(used) };
}

/** Backfill at 10 reads / 10 s, import at 30 writes / 5 s (then again), reads alongside. */
export async function jobsBench(base: string, vars: Record<string, string>, serverOutput: () => string) {
  // Backfill: the account exists first; connecting starts the backfill.
  const readQuota = { limit: 10, windowSeconds: 10 };
  const backfillClient = await acmeClient(base, vars, { read: readQuota });
  console.log(`  seeding ${BACKFILL_CONTACTS} contacts at Acme...`);
  const someId = await seedAcme(base, backfillClient.acmeToken, BACKFILL_CONTACTS);
  const backfillLogFrom = serverOutput().length;
  const account = await connect(base, vars, backfillClient);
  const [job] = (await ok<{ data: Job[] }>(await call(base, "/api/v1/jobs", account.apiKey), 200)).data;
  if (!job) throw new Error("no backfill job");
  console.log(`  backfill ${job.id} running...`);
  const backfill = await readsDuring(
    base,
    account.apiKey,
    someId,
    2500,
    untilFinished(base, account.apiKey, job.id),
  );
  // Acme's reads while the backfill ran: its pages and the interactive reads beside it share the
  // read quota (nothing else reads Acme meanwhile).
  const backfillReads = acmeRequests(serverOutput(), backfillLogFrom).filter(
    (r) => r.method === "GET" && r.path.startsWith("/acme/v1/contacts") && r.status === 200,
  );
  const readWindows = windowsFilled(backfillReads, readQuota.limit);
  const backfillFeed = await feedCount(base, account.apiKey);
  const pages = Math.ceil(BACKFILL_CONTACTS / 100) + 1;
  const backfillSeconds = seconds(backfill.result);

  // Import: 600 rows, 1% invalid, at 30 writes / 5 s; then the same file again.
  const writeQuota = { limit: 30, windowSeconds: 5 };
  const importClient = await acmeClient(base, vars, { write: writeQuota });
  const importer = await connect(base, vars, importClient);
  const probe = await ok<{ id: string }>(
    await call(base, "/api/v1/contacts", importer.apiKey, {
      method: "POST",
      body: JSON.stringify({
        firstName: "Probe",
        lastName: "Read",
        email: `probe-${crypto.randomUUID()}@example.com`,
      }),
    }),
    201,
  );
  const lines = ["firstName,lastName,email"];
  for (let i = 0; i < IMPORT_ROWS; i++) {
    const email = i % 100 === 50 ? "not-an-email" : `import-${i}-${crypto.randomUUID()}@example.com`;
    lines.push(`Row,${i},${email}`);
  }
  const csv = lines.join("\n");
  const startImport = async () =>
    ok<Job>(
      await call(base, "/api/v1/imports", importer.apiKey, {
        method: "POST",
        body: csv,
        headers: { "content-type": "text/csv" },
      }),
      202,
    );
  console.log(`  import of ${IMPORT_ROWS} rows running...`);
  const importLogFrom = serverOutput().length;
  const first = await startImport();
  const imported = await readsDuring(
    base,
    importer.apiKey,
    probe.id,
    2500,
    untilFinished(base, importer.apiKey, first.id),
  );
  const importSeconds = seconds(imported.result);
  const importWrites = acmeRequests(serverOutput(), importLogFrom).filter(
    (r) => isWrite(r) && r.status < 300,
  );
  const writeWindows = windowsFilled(importWrites, writeQuota.limit);
  const logFrom = serverOutput().length;
  const again = await untilFinished(base, importer.apiKey, (await startImport()).id);
  const writesAgain = acmeRequests(serverOutput(), logFrom).filter(isWrite).length;
  let atAcme = 0;
  const emails = new Set<string>();
  let after: string | undefined;
  do {
    const page = await ok<{ results: { acme_email: string }[]; paging?: { next: { after: string } } }>(
      await call(base, `/acme/v1/contacts?limit=100${after ? `&after=${after}` : ""}`, importer.acmeToken),
      200,
    );
    atAcme += page.results.length;
    for (const c of page.results) emails.add(c.acme_email.toLowerCase());
    after = page.paging?.next.after;
  } while (after);

  return {
    backfill: {
      quota: `${readQuota.limit} reads / ${readQuota.windowSeconds} s`,
      contacts: BACKFILL_CONTACTS,
      job: backfill.result,
      seconds: backfillSeconds,
      // Acme's read windows while it ran, pages and interactive reads together: the quota used.
      readWindows,
      quotaUsed: readWindows.steadyStateShare,
      // The backfill's own pages per second against the whole quota (interactive reads took the rest).
      pagesShareOfQuota: round(pages / backfillSeconds / (readQuota.limit / readQuota.windowSeconds)),
      acme429s: (await status(base, account.apiKey)).counters.acme429s,
      feed: backfillFeed,
      interactiveReads: backfill.reads,
    },
    import: {
      quota: `${writeQuota.limit} writes / ${writeQuota.windowSeconds} s`,
      rows: IMPORT_ROWS,
      invalid: IMPORT_INVALID,
      job: imported.result,
      seconds: importSeconds,
      writeWindows,
      quotaUsed: writeWindows.steadyStateShare,
      // Rows written per second against the quota, over the whole run.
      rowsShareOfQuota: round(
        imported.result.succeeded / importSeconds / (writeQuota.limit / writeQuota.windowSeconds),
      ),
      acme429s: (await status(base, importer.apiKey)).counters.acme429s,
      contactsAtAcme: atAcme - 1,
      duplicates: atAcme - emails.size,
      again: { job: again, acmeWrites: writesAgain },
      interactiveReads: imported.reads,
    },
  };
}
