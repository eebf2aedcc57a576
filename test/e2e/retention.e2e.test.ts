import { describe, expect, it } from "vitest";
import type { components, Job, Problem } from "../../client/index.ts";
import { until } from "./helpers.ts";
import { useOwnServer } from "./own-server.ts";

// Retention with settings in seconds, on its own wrangler dev (the suite's shared one keeps the
// defaults of days): each connection's ConnectionData object prunes its change feed and its
// finished jobs from its alarm, every RETENTION_INTERVAL_SECONDS.

const FEED_RETENTION_S = 3;
const JOB_RETENTION_S = 3;
const RETENTION_INTERVAL_S = 1;
/** An entry (or a finished job) older than the retention is gone by the next alarm: a margin over that. */
const PRUNED_WITHIN_MS = 20_000;
/** How often the test polls (ms). */
const POLL_MS = 250;

type FeedEvent = components["schemas"]["ChangeEvent"];
type FeedPage = components["schemas"]["ChangeFeed"];

const own = useOwnServer("retention", {
  FEED_RETENTION_SECONDS: String(FEED_RETENTION_S),
  JOB_RETENTION_SECONDS: String(JOB_RETENTION_S),
  RETENTION_INTERVAL_SECONDS: String(RETENTION_INTERVAL_S),
  WEBHOOK_ID_RETENTION_SECONDS: "3",
  IDEMPOTENCY_TTL_SECONDS: "60",
});

function call(
  path: string,
  token: string,
  init: { method?: string; body?: string; type?: string } = {},
): Promise<Response> {
  const { fetch, url } = own();
  return fetch(`${url}${path}`, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${token}`, "content-type": init.type ?? "application/json" },
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
}

/** An Acme account, a connection to it, an API key, and (when asked) its webhook subscription. */
async function connect(name: string, subscribe: boolean): Promise<{ id: string; apiKey: string }> {
  const clientRes = await call("/acme/admin/clients", own().acmeAdmin, {
    method: "POST",
    body: JSON.stringify({ name }),
  });
  expect(clientRes.status).toBe(201);
  const client = (await clientRes.json()) as { client_id: string; client_secret: string };
  const connectionRes = await call("/api/v1/admin/connections", own().admin, {
    method: "POST",
    body: JSON.stringify({ name, acmeClientId: client.client_id, acmeClientSecret: client.client_secret }),
  });
  expect(connectionRes.status).toBe(201);
  const { id } = (await connectionRes.json()) as { id: string };
  const keyRes = await call(`/api/v1/admin/connections/${id}/api-keys`, own().admin, {
    method: "POST",
  });
  expect(keyRes.status).toBe(201);
  const { apiKey } = (await keyRes.json()) as { apiKey: string };
  if (subscribe) {
    const subscribed = await call(`/api/v1/admin/connections/${id}/webhook-subscription`, own().admin, {
      method: "POST",
    });
    expect(subscribed.status).toBe(201);
  }
  return { id, apiKey };
}

async function createContact(apiKey: string, email: string): Promise<string> {
  const res = await call("/api/v1/contacts", apiKey, {
    method: "POST",
    body: JSON.stringify({ firstName: "Retained", lastName: email.split("@")[0], email }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
}

/** GET /api/v1/events?after=…: a page (200) or the expiry problem (410); anything else fails. */
async function events(
  apiKey: string,
  after: number,
): Promise<{ status: 200; page: FeedPage } | { status: 410; problem: Problem; type: string | null }> {
  const res = await call(`/api/v1/events?after=${after}&limit=500`, apiKey);
  if (res.status === 200) return { status: 200, page: (await res.json()) as FeedPage };
  expect(res.status, `GET /api/v1/events?after=${after}`).toBe(410);
  return { status: 410, problem: (await res.json()) as Problem, type: res.headers.get("content-type") };
}

// The two tests use separate connections (separate objects) and mostly wait on the alarm: they
// run side by side.
describe.concurrent("retention with short settings (seconds, not days)", () => {
  it("prunes the change feed but its newest entry: an old cursor gets 410 with oldestAfter, numbering goes on", async () => {
    const connection = await connect("retention-feed", true);
    const run = crypto.randomUUID().slice(0, 8);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(await createContact(connection.apiKey, `feed${i}.${run}@example.com`));

    // Acme's webhooks carry the creates into the feed.
    let seen: FeedEvent[] = [];
    const all = await until(
      async () => {
        const res = await events(connection.apiKey, 0);
        if (res.status !== 200)
          throw new Error(`410 before the feed had every create: ${res.problem.detail}`);
        seen = res.page.data;
        return ids.every((id) => seen.some((e) => e.contact.id === id && e.type === "contact.created"))
          ? seen
          : undefined;
      },
      15_000,
      "the creates in the change feed",
      () => JSON.stringify(seen),
      POLL_MS,
    );
    const allSeenAt = Date.now();
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    const lastSeq = Math.max(...all.map((e) => e.seq));
    expect(lastSeq).toBeGreaterThanOrEqual(3);

    // Past the retention, the alarm prunes: a cursor before the pruned entries gets 410.
    let last: Awaited<ReturnType<typeof events>> | undefined;
    const firstExpiry = await until(
      async () => {
        last = await events(connection.apiKey, 0);
        return last.status === 410 ? last : undefined;
      },
      PRUNED_WITHIN_MS,
      "after=0 to answer 410",
      () => JSON.stringify(last),
      POLL_MS,
    );
    const firstExpiryAfterMs = Date.now() - allSeenAt;
    expect(firstExpiry.type).toBe("application/problem+json");
    expect(firstExpiry.problem).toMatchObject({ status: 410, code: "feed_cursor_expired" });
    const firstOldestAfter = firstExpiry.problem.oldestAfter;
    expect(typeof firstOldestAfter).toBe("number");
    // The newest entry is never pruned: the mark stays below it.
    expect(firstOldestAfter).toBeGreaterThanOrEqual(1);
    expect(firstOldestAfter).toBeLessThanOrEqual(lastSeq - 1);

    // Every entry but the newest was recorded before `allSeenAt`: once the retention and two alarm
    // intervals have passed since, all of them are pruned, and the newest is still there.
    const settled = allSeenAt + (FEED_RETENTION_S + 2 * RETENTION_INTERVAL_S) * 1000;
    await until(
      async () => {
        last = await events(connection.apiKey, 0);
        return last.status === 410 && last.problem.oldestAfter === lastSeq - 1 && Date.now() >= settled
          ? last
          : undefined;
      },
      PRUNED_WITHIN_MS,
      `the feed pruned through ${lastSeq - 1}`,
      () => JSON.stringify(last),
      POLL_MS,
    );
    const expired = await events(connection.apiKey, 0);
    expect(expired.status).toBe(410);
    if (expired.status !== 410) return;
    expect(expired.type).toBe("application/problem+json");
    expect(expired.problem).toMatchObject({
      type: "https://acme-bridge.dev/problems/feed-cursor-expired",
      status: 410,
      code: "feed_cursor_expired",
      oldestAfter: lastSeq - 1,
    });
    const oldestAfter = expired.problem.oldestAfter as number;

    // A cursor just before the pruned mark is expired too; at the mark, the rest is served.
    if (oldestAfter > 1) expect((await events(connection.apiKey, oldestAfter - 1)).status).toBe(410);
    const rest = await events(connection.apiKey, oldestAfter);
    expect(rest.status).toBe(200);
    if (rest.status !== 200) return;
    expect(rest.page.data.map((e) => e.seq)).toEqual([lastSeq]);
    expect(rest.page.data[0]).toEqual(all.find((e) => e.seq === lastSeq));
    expect(rest.page.nextAfter).toBe(lastSeq);

    // A new change takes the next number: pruning never restarts the sequence.
    const newId = await createContact(connection.apiKey, `feed-after.${run}@example.com`);
    const next = await until(
      async () => {
        const res = await events(connection.apiKey, lastSeq);
        if (res.status !== 200) throw new Error(`after=${lastSeq} expired: ${res.problem.detail}`);
        return res.page.data.find((e) => e.contact.id === newId);
      },
      15_000,
      "the new create in the change feed",
      undefined,
      POLL_MS,
    );
    expect(next).toMatchObject({ seq: lastSeq + 1, type: "contact.created" });

    // The entry that was the newest is no longer: it is pruned in turn (it is past the retention
    // already), and a client caught up at it still reads on without a 410.
    await until(
      async () => {
        last = await events(connection.apiKey, 0);
        return last.status === 410 && last.problem.oldestAfter === lastSeq ? last : undefined;
      },
      PRUNED_WITHIN_MS,
      `the feed pruned through ${lastSeq}`,
      () => JSON.stringify(last),
      POLL_MS,
    );
    const caughtUp = await events(connection.apiKey, lastSeq);
    expect(caughtUp.status).toBe(200);
    if (caughtUp.status !== 200) return;
    expect(caughtUp.page.data.map((e) => e.seq)).toEqual([lastSeq + 1]);
    expect(caughtUp.page.nextAfter).toBe(lastSeq + 1);
    console.info(
      `feed: ${lastSeq} entries; first 410 ${firstExpiryAfterMs} ms after all were seen (oldestAfter ${firstOldestAfter})`,
    );
  });

  it("drops a finished import job JOB_RETENTION_SECONDS after it ends: 404, and gone from the list", async () => {
    const connection = await connect("retention-jobs", false);
    const run = crypto.randomUUID().slice(0, 8);
    const csv = [
      "firstName,lastName,email",
      `Job,One,job1.${run}@example.com`,
      `Job,Two,job2.${run}@example.com`,
    ].join("\n");
    const started = await call("/api/v1/imports", connection.apiKey, {
      method: "POST",
      body: csv,
      type: "text/csv",
    });
    expect(started.status).toBe(202);
    const job = (await started.json()) as Job;

    let current: Job | undefined;
    const finished = await until(
      async () => {
        const res = await call(`/api/v1/jobs/${job.id}`, connection.apiKey);
        expect(res.status).toBe(200);
        current = (await res.json()) as Job;
        return current.status === "succeeded" || current.status === "failed" ? current : undefined;
      },
      20_000,
      "the import to finish",
      () => JSON.stringify(current),
      POLL_MS,
    );
    expect(finished).toMatchObject({ status: "succeeded", total: 2, processed: 2, succeeded: 2, failed: 0 });
    const finishedAt = Date.parse(finished.finishedAt ?? "");
    expect(Number.isNaN(finishedAt)).toBe(false);
    const listed = await call("/api/v1/jobs?limit=100", connection.apiKey);
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { data: Job[] }).data.map((j) => j.id)).toContain(job.id);

    let lastStatus = 0;
    const gone = await until(
      async () => {
        const res = await call(`/api/v1/jobs/${job.id}`, connection.apiKey);
        lastStatus = res.status;
        if (res.status === 200) {
          await res.body?.cancel();
          return undefined;
        }
        return res;
      },
      PRUNED_WITHIN_MS,
      "the finished job to be pruned",
      () => `(last status ${lastStatus})`,
      POLL_MS,
    );
    const goneAt = Date.now();
    expect(gone.status).toBe(404);
    expect(gone.headers.get("content-type")).toBe("application/problem+json");
    expect(((await gone.json()) as Problem).code).toBe("not_found");
    // Not before its retention was up (the Worker and this test share the machine's clock).
    expect(goneAt - finishedAt).toBeGreaterThanOrEqual(JOB_RETENTION_S * 1000);

    const after = await call("/api/v1/jobs?limit=100", connection.apiKey);
    expect(after.status).toBe(200);
    expect(((await after.json()) as { data: Job[] }).data.map((j) => j.id)).not.toContain(job.id);
    console.info(`jobs: the import was 404 ${goneAt - finishedAt} ms after it finished`);
  });
});
