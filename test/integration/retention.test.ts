import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadConnectionDataConfig } from "../../src/integration/connection-data/config.ts";
import { PRUNE_SLICE_ROWS } from "../../src/integration/connection-data/connection-data.ts";
import { fromAcme } from "../../src/integration/contacts/mapping.ts";
import type { StoredContact } from "../../src/integration/contacts/schemas.ts";
import type { IncomingChange } from "../../src/integration/feed/feed-store.ts";
import { pruneDeadLetters } from "../../src/integration/jobs/cron-tasks.ts";
import { inConnectionData, sqlIn, withFeedStore } from "./connection-data-helpers.ts";
import { api, expectProblem, newConnection, untilJob } from "./helpers.ts";
import { acmeContact, consume, eventBody, inboxMessage } from "./inbox-helpers.ts";

// Retention with injected time: the object's pruning is run with a `now` past each retention
// period, as its alarm would run it that much later (the periods themselves are days by default).

const DAY_MS = 86_400_000;
const config = loadConnectionDataConfig(env);

/** Runs one slice of the object's pruning as if at `now` (epoch ms); true when a slice was full. */
function pruneAt(connectionId: string, now: number): Promise<boolean> {
  return inConnectionData(connectionId, (instance) =>
    (instance as unknown as { prune(now: number): boolean }).prune(now),
  );
}

async function count(connectionId: string, table: string): Promise<number> {
  const [row] = await sqlIn<{ n: number }>(connectionId, `SELECT COUNT(*) AS n FROM ${table}`);
  return row?.n ?? 0;
}

function backfillChange(contactId: string): IncomingChange {
  return {
    eventId: `bf_${contactId}_v1`,
    type: "contact.created",
    occurredAt: new Date().toISOString(),
    contact: fromAcme(acmeContact(contactId, 1)) as StoredContact,
    previous: null,
    deletedAt: null,
    source: "backfill",
  };
}

describe("retention of a connection's data", () => {
  it("prunes 1,200 feed entries in bounded slices, keeps the newest, and answers a pruned cursor with 410 and oldestAfter", async () => {
    const { connectionId, apiKey } = await newConnection();
    for (let page = 0; page < 12; page++) {
      const changes = Array.from({ length: 100 }, (_, i) => backfillChange(`ct_r${page * 100 + i}`));
      await withFeedStore(connectionId, (feed) => feed.applyChanges(changes, new Date()));
    }
    expect(await count(connectionId, "change_events")).toBe(1200);
    const later = Date.now() + config.feedRetentionSeconds * 1000 + 60_000;
    // Each alarm removes at most one slice and says whether more is left.
    expect(await pruneAt(connectionId, later)).toBe(true);
    expect(await count(connectionId, "change_events")).toBe(1200 - PRUNE_SLICE_ROWS);
    expect(await pruneAt(connectionId, later)).toBe(true);
    expect(await pruneAt(connectionId, later)).toBe(false);
    // The newest entry stays, so sequence numbers go on from it.
    expect(await sqlIn(connectionId, "SELECT seq FROM change_events")).toEqual([{ seq: 1200 }]);

    const expired = await api("/api/v1/events?after=0", { key: apiKey });
    const problem = await expectProblem(expired, 410, "feed_cursor_expired");
    expect(problem.oldestAfter).toBe(1199);
    expect(problem.detail).toContain("oldestAfter 1199");
    await expectProblem(await api("/api/v1/events?after=1198", { key: apiKey }), 410, "feed_cursor_expired");
    const kept = await api("/api/v1/events?after=1199", { key: apiKey });
    expect(kept.status).toBe(200);
    expect((await kept.json<{ data: { seq: number }[] }>()).data.map((e) => e.seq)).toEqual([1200]);

    // A new change takes the next number, not one the pruned entries had.
    await consume([
      {
        body: inboxMessage(
          connectionId,
          "msg_after_prune",
          eventBody("contact.created", acmeContact("ct_new", 1)),
        ),
      },
    ]);
    const next = await api("/api/v1/events?after=1200", { key: apiKey });
    expect((await next.json<{ data: { seq: number }[] }>()).data.map((e) => e.seq)).toEqual([1201]);
  });

  it("keeps entries younger than the retention, and a cursor at or past the mark is served", async () => {
    const { connectionId, apiKey } = await newConnection();
    await consume(
      [1, 2, 3].map((i) => ({
        body: inboxMessage(
          connectionId,
          `msg_young${i}`,
          eventBody("contact.created", acmeContact(`ct_y${i}`, 1)),
        ),
      })),
    );
    expect(await pruneAt(connectionId, Date.now() + config.feedRetentionSeconds * 1000 - 60_000)).toBe(false);
    expect(await count(connectionId, "change_events")).toBe(3);
    const all = await api("/api/v1/events?after=0", { key: apiKey });
    expect(all.status).toBe(200);
  });

  it("forgets processed webhook ids after the sender's retry horizon; a late redelivery still changes nothing", async () => {
    const { connectionId, apiKey } = await newConnection();
    const message = inboxMessage(
      connectionId,
      "msg_horizon",
      eventBody("contact.created", acmeContact("ct_h", 1)),
    );
    await consume([{ body: message }]);
    expect(await count(connectionId, "processed_webhooks")).toBe(1);
    await pruneAt(connectionId, Date.now() + config.webhookIdRetentionSeconds * 1000 + 60_000);
    expect(await count(connectionId, "processed_webhooks")).toBe(0);
    // The feed's per-contact versions still make it a duplicate.
    await consume([{ body: message }]);
    const feed = await (await api("/api/v1/events?after=0", { key: apiKey })).json<{ data: unknown[] }>();
    expect(feed.data).toHaveLength(1);
  });

  it("drops expired idempotency keys: the key is free for a new request", async () => {
    const { connectionId, apiKey } = await newConnection();
    const body = { firstName: "I", lastName: "K", email: `ik-${crypto.randomUUID()}@example.com` };
    const first = await api("/api/v1/contacts", {
      key: apiKey,
      method: "POST",
      body,
      headers: { "idempotency-key": "k-retain" },
    });
    expect(first.status).toBe(201);
    expect(await count(connectionId, "idempotency_keys")).toBe(1);
    await pruneAt(connectionId, Date.now() + 8 * DAY_MS);
    expect(await count(connectionId, "idempotency_keys")).toBe(0);
  });

  it("deletes an import's chunks when it ends, and the finished job with its errors after JOB_RETENTION_SECONDS (then 404); an active job stays", async () => {
    const { connectionId, apiKey } = await newConnection();
    const csv = [
      "firstName,lastName,email",
      "A,B,not-an-email",
      `C,D,ret-${crypto.randomUUID()}@example.com`,
    ].join("\n");
    const started = await api("/api/v1/imports", {
      key: apiKey,
      method: "POST",
      body: csv,
      headers: { "content-type": "text/csv" },
    });
    expect(started.status).toBe(202);
    const job = await untilJob(apiKey, (await started.json<{ id: string }>()).id);
    expect(job).toMatchObject({ status: "succeeded", failed: 1 });
    expect(await sqlIn(connectionId, "SELECT chunk FROM job_chunks WHERE job_id = ?", job.id)).toEqual([]);
    expect(await sqlIn(connectionId, "SELECT row FROM job_errors WHERE job_id = ?", job.id)).toEqual([
      { row: 1 },
    ]);
    // A job still running is never pruned.
    const active = await inConnectionData(connectionId, (instance) =>
      instance.createJob(connectionId, { kind: "import", rows: [], leaseMs: 60_000 }),
    );

    await pruneAt(connectionId, Date.now() + config.jobRetentionSeconds * 1000 + 60_000);
    expect(await sqlIn(connectionId, "SELECT row FROM job_errors WHERE job_id = ?", job.id)).toEqual([]);
    await expectProblem(await api(`/api/v1/jobs/${job.id}`, { key: apiKey }), 404, "not_found");
    const listed = await (await api("/api/v1/jobs?limit=100", { key: apiKey })).json<{
      data: { id: string }[];
    }>();
    expect(listed.data.map((j) => j.id)).toContain(active.id);
    expect(listed.data.map((j) => j.id)).not.toContain(job.id);
  });

  it("the alarm comes back within a second while a backlog is left, and otherwise at the next reconciliation or pruning", async () => {
    const { connectionId } = await newConnection();
    const changes = Array.from({ length: PRUNE_SLICE_ROWS + 50 }, (_, i) => backfillChange(`ct_b${i}`));
    await withFeedStore(connectionId, (feed) => feed.applyChanges(changes.slice(0, 100), new Date()));
    for (let i = 100; i < changes.length; i += 100) {
      await withFeedStore(connectionId, (feed) => feed.applyChanges(changes.slice(i, i + 100), new Date()));
    }
    // Rows recorded long ago, as if the retention had passed.
    await sqlIn(connectionId, "UPDATE change_events SET recorded_at = '2000-01-01T00:00:00.000Z'");
    const before = Date.now();
    const alarmAt = await inConnectionData(connectionId, async (instance, state) => {
      await instance.alarm();
      return state.storage.getAlarm();
    });
    expect(alarmAt).toBeGreaterThanOrEqual(before);
    expect(alarmAt).toBeLessThanOrEqual(Date.now() + 1000);
    const quiet = await inConnectionData(connectionId, async (instance, state) => {
      await instance.alarm();
      return state.storage.getAlarm();
    });
    expect(quiet).toBeGreaterThan(Date.now() + 60_000);
    expect(await count(connectionId, "change_events")).toBe(1);
  });
});

describe("retention of dead letters (D1)", () => {
  it("the cron deletes dead letters older than DEAD_LETTER_RETENTION_SECONDS and keeps younger ones", async () => {
    const marker = `retention-${crypto.randomUUID()}`;
    const old = new Date(Date.now() - config.deadLetterRetentionSeconds * 1000 - 60_000).toISOString();
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO dead_letters (id, body, reason, received_at) VALUES (?, ?, 'old', ?), (?, ?, 'young', ?)",
      ).bind(`dl_old_${marker}`, marker, old, `dl_young_${marker}`, marker, new Date().toISOString()),
    ]);
    const { deleted } = await pruneDeadLetters(env);
    expect(deleted).toBeGreaterThanOrEqual(1);
    const left = await env.DB.prepare("SELECT reason FROM dead_letters WHERE body = ?").bind(marker).all();
    expect(left.results).toEqual([{ reason: "young" }]);
  });
});
