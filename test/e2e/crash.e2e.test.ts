import { describe, expect, it } from "vitest";
import type { components, Job } from "../../client/index.ts";
import { ContractViolation } from "../contract/openapi-contract.ts";
import { until } from "./helpers.ts";
import { useOwnServer } from "./own-server.ts";

// Its own wrangler dev (not the suite's shared one): this test kills it and starts it again on
// the same state directory and port.

type FeedEvent = components["schemas"]["ChangeEvent"];

/** One tenant: its own Acme client (account), connection, API key and webhook subscription. */
interface Tenant {
  index: number;
  client: { client_id: string; client_secret: string };
  connectionId: string;
  apiKey: string;
  /** Emails of its creates answered 201. */
  acknowledged: string[];
}

const CONNECTIONS = 3;
const IMPORT_ROWS = 300;
/** Each connection's object starts a reconciliation this often (s): what the crash lost heals in seconds. */
const RECONCILE_INTERVAL_SECONDS = 5;
const CRON = "/__scheduled?cron=*/5+*+*+*+*";
/** How often the test polls (ms): its checks read every connection's jobs or feed. */
const POLL_MS = 500;
// A short job lease, so the cron sweep restarts the interrupted instances soon after the restart;
// a short reconciliation interval, so each connection's own schedule heals its feed.
const own = useOwnServer("crash", {
  JOB_LEASE_MS: "3000",
  RECONCILE_INTERVAL_SECONDS: String(RECONCILE_INTERVAL_SECONDS),
});

const isSync = (job: Job) => job.kind === "backfill" || job.kind === "reconcile";
const isActive = (job: Job) => job.status === "queued" || job.status === "running";

describe("a crash of wrangler dev mid-import and mid-stream of creates, across connections", () => {
  it("loses no acknowledged write and duplicates none, at Acme or in any connection's change feed", async () => {
    const server = own();
    const { url: base, fetch, acmeAdmin, admin } = server;
    const call = async (
      path: string,
      token: string,
      init: { method?: string; body?: string; type?: string } = {},
    ) =>
      fetch(`${base}${path}`, {
        method: init.method ?? "GET",
        headers: { authorization: `Bearer ${token}`, "content-type": init.type ?? "application/json" },
        ...(init.body !== undefined ? { body: init.body } : {}),
      });
    const cron = () => fetch(`${base}${CRON}`);

    const connect = async (index: number): Promise<Tenant> => {
      const client = (await (
        await call("/acme/admin/clients", acmeAdmin, {
          method: "POST",
          // Quota enough that the import is quick: this test is about the crash, not pacing.
          body: JSON.stringify({
            name: `crash-${index}`,
            rate_limits: {
              read: { limit: 2000, windowSeconds: 10 },
              write: { limit: 1000, windowSeconds: 10 },
            },
          }),
        })
      ).json()) as Tenant["client"];
      const connection = (await (
        await call("/api/v1/admin/connections", admin, {
          method: "POST",
          body: JSON.stringify({
            name: `crash-${index}`,
            acmeClientId: client.client_id,
            acmeClientSecret: client.client_secret,
          }),
        })
      ).json()) as { id: string };
      const { apiKey } = (await (
        await call(`/api/v1/admin/connections/${connection.id}/api-keys`, admin, {
          method: "POST",
        })
      ).json()) as { apiKey: string };
      const subscribed = await call(
        `/api/v1/admin/connections/${connection.id}/webhook-subscription`,
        admin,
        { method: "POST" },
      );
      expect(subscribed.status).toBe(201);
      return { index, client, connectionId: connection.id, apiKey, acknowledged: [] };
    };
    const tenants: Tenant[] = [];
    for (let i = 0; i < CONNECTIONS; i++) tenants.push(await connect(i));
    const [importer] = tenants as [Tenant];
    /** The connection's backfills and reconciliations, newest first. */
    const syncJobs = async (tenant: Tenant): Promise<Job[]> => {
      const res = await call("/api/v1/jobs?limit=100", tenant.apiKey);
      expect(res.status).toBe(200);
      return ((await res.json()) as { data: Job[] }).data.filter(isSync);
    };

    // Emails carry their connection's index, so one found at another connection's stands out.
    const run = crypto.randomUUID().slice(0, 8);
    const importEmails = Array.from({ length: IMPORT_ROWS }, (_, i) => `c0.import${i}.${run}@example.com`);
    const csv = ["firstName,lastName,email", ...importEmails.map((e, i) => `Row,${i},${e}`)].join("\n");
    const started = await call("/api/v1/imports", importer.apiKey, {
      method: "POST",
      body: csv,
      type: "text/csv",
    });
    expect(started.status).toBe(202);
    const job = (await started.json()) as Job;

    // Creates stream in while the import runs, round-robin over the connections; only those
    // answered 201 were acknowledged.
    const refused: string[] = [];
    let processed = 0;
    let streaming = true;
    const stream = (async () => {
      for (let i = 0; streaming; i++) {
        const tenant = tenants[i % CONNECTIONS] as Tenant;
        const email = `c${tenant.index}.stream${i}.${run}@example.com`;
        try {
          const res = await call("/api/v1/contacts", tenant.apiKey, {
            method: "POST",
            body: JSON.stringify({ firstName: "Stream", lastName: String(i), email }),
          });
          if (res.status === 201) tenant.acknowledged.push(email);
          else refused.push(`${res.status} ${await res.text()}`);
        } catch (error) {
          // A response that breaks the OpenAPI documents is a fault; otherwise the server is gone:
          // not acknowledged.
          if (error instanceof ContractViolation) refused.push(`contract: ${error.message}`);
        }
      }
    })();
    const acknowledgedCounts = () => tenants.map((t) => t.acknowledged.length).join("/");

    // Kill mid-import and mid-stream: some rows done, most not, and some creates acknowledged on
    // every connection; and while at least one connection runs no backfill or reconciliation,
    // so that after the restart its object's alarm must start its next one (see below).
    let idleAtKill = 0;
    await until(
      async () => {
        const current = (await (await call(`/api/v1/jobs/${job.id}`, importer.apiKey)).json()) as Job;
        processed = current.processed;
        if (processed < 20 || tenants.some((t) => t.acknowledged.length < 3)) return undefined;
        const running = await Promise.all(tenants.map(async (t) => (await syncJobs(t)).some(isActive)));
        idleAtKill = running.filter((r) => !r).length;
        return idleAtKill > 0 ? current : undefined;
      },
      60_000,
      "the import and the stream of creates to get going",
      () =>
        `(rows processed ${processed}, creates acknowledged ${acknowledgedCounts()}, refused: ${refused.join("; ")})`,
      POLL_MS,
    );
    const killedAt = Date.now();
    await server.kill();
    streaming = false;
    await stream;
    // Before the kill, no create was refused: a refusal would be a fault, not the crash.
    expect(
      refused.filter((r) => !r.startsWith("5")),
      refused.join("\n"),
    ).toEqual([]);

    await server.restart();
    const restartedAt = Date.now();

    // Alarms set before the kill fire after the restart. Only a connection object's alarm starts
    // a reconciliation; until each connection that was running no sync job has one started after
    // the kill, nothing but reads: no cron run (it pokes overdue connections' schedules, and makes
    // Acme hand its undelivered webhooks again) and no write (each sets the object's alarm when it
    // finds none). Queued webhook deliveries died with the process, and the interrupted import
    // waits for the cron sweep, so the alarm stored with the object before the kill is what fires.
    const stalled = new Set<number>();
    for (const tenant of tenants) {
      const jobs = await syncJobs(tenant);
      if (jobs.some((j) => isActive(j) && Date.parse(j.createdAt) < killedAt)) stalled.add(tenant.index);
    }
    const quiet = tenants.filter((t) => !stalled.has(t.index));
    // A connection with a backfill or reconciliation cut off by the kill waits for the cron sweep:
    // its alarm finds one still active and starts none.
    expect(quiet.length, "every connection had a sync job cut off by the kill").toBeGreaterThan(0);
    const startedByAlarm = new Map<number, number>();
    await until(
      async () => {
        for (const tenant of quiet) {
          if (startedByAlarm.has(tenant.index)) continue;
          const fresh = (await syncJobs(tenant)).find(
            (j) => j.kind === "reconcile" && Date.parse(j.createdAt) >= killedAt,
          );
          if (fresh) startedByAlarm.set(tenant.index, Date.parse(fresh.createdAt) - restartedAt);
        }
        return startedByAlarm.size === quiet.length ? true : undefined;
      },
      6 * RECONCILE_INTERVAL_SECONDS * 1000,
      "alarms set before the kill to start reconciliations after the restart",
      () =>
        `(connections without a sync job cut off: ${quiet.map((t) => t.index).join(", ")}; started: ${[
          ...startedByAlarm.keys(),
        ].join(", ")})`,
      POLL_MS,
    );

    // The interrupted import (and any interrupted sync job) does not resume by itself: the cron
    // sweep restarts it once its lease ran out.
    const finished = await until(
      async () => {
        await cron();
        const current = (await (await call(`/api/v1/jobs/${job.id}`, importer.apiKey)).json()) as Job;
        return current.status === "succeeded" ? current : undefined;
      },
      120_000,
      "the import to finish after the restart",
      undefined,
      POLL_MS,
    );
    expect(finished).toMatchObject({
      total: IMPORT_ROWS,
      processed: IMPORT_ROWS,
      succeeded: IMPORT_ROWS,
      failed: 0,
    });

    // Each Acme account holds its connection's acknowledged creates and import rows once each,
    // and nothing of another connection's.
    const acmeContacts = async (tenant: Tenant) => {
      const { client } = tenant;
      const token = (
        (await (
          await fetch(`${base}/acme/oauth/token`, {
            method: "POST",
            headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
            body: new URLSearchParams({ grant_type: "client_credentials" }),
          })
        ).json()) as { access_token: string }
      ).access_token;
      const contacts: { id: string; acme_email: string }[] = [];
      let after: string | undefined;
      do {
        const res = await call(`/acme/v1/contacts?limit=100${after ? `&after=${after}` : ""}`, token);
        expect(res.status).toBe(200);
        const page = (await res.json()) as {
          results: { id: string; acme_email: string }[];
          paging?: { next: { after: string } };
        };
        contacts.push(...page.results);
        after = page.paging?.next.after;
      } while (after);
      return contacts;
    };
    const atAcme = new Map<number, { id: string; acme_email: string }[]>();
    for (const tenant of tenants) {
      const contacts = await acmeContacts(tenant);
      atAcme.set(tenant.index, contacts);
      const count = new Map<string, number>();
      for (const c of contacts) count.set(c.acme_email, (count.get(c.acme_email) ?? 0) + 1);
      const expected = [...(tenant === importer ? importEmails : []), ...tenant.acknowledged];
      for (const email of expected) expect(count.get(email), email).toBe(1);
      expect([...count.entries()].filter(([, n]) => n !== 1)).toEqual([]);
      expect(contacts.filter((c) => !c.acme_email.startsWith(`c${tenant.index}.`))).toEqual([]);
    }

    // Each connection's feed gets every contact of its Acme account as exactly one creation,
    // and nothing else's: webhooks lost in the crash are made good by the connection's own
    // reconciliations, every RECONCILE_INTERVAL_SECONDS. (The cron runs restart stalled jobs; Acme
    // hands an undelivered webhook again no sooner than 30 s after its change.)
    const feed = async (tenant: Tenant) => {
      const events: FeedEvent[] = [];
      let seq = 0;
      for (;;) {
        const res = await call(`/api/v1/events?after=${seq}&limit=500`, tenant.apiKey);
        expect(res.status).toBe(200);
        const page = (await res.json()) as { data: FeedEvent[]; nextAfter: number };
        events.push(...page.data);
        if (page.data.length === 0) break;
        seq = page.nextAfter;
      }
      return events;
    };
    const feeds = new Map<number, FeedEvent[]>();
    await until(
      async () => {
        await cron();
        for (const tenant of tenants) {
          if (feeds.has(tenant.index)) continue;
          const events = await feed(tenant);
          const created = new Set(
            events.filter((e) => e.type === "contact.created").map((e) => e.contact.id),
          );
          if ((atAcme.get(tenant.index) ?? []).every((c) => created.has(c.id)))
            feeds.set(tenant.index, events);
        }
        return feeds.size === tenants.length ? true : undefined;
      },
      120_000,
      "every contact in its connection's change feed",
      () => `(feeds complete: ${[...feeds.keys()].join(", ")})`,
      POLL_MS,
    );
    for (const tenant of tenants) {
      const events = feeds.get(tenant.index) ?? [];
      const ids = new Set((atAcme.get(tenant.index) ?? []).map((c) => c.id));
      const creations = new Map<string, number>();
      for (const e of events.filter((e) => e.type === "contact.created")) {
        creations.set(e.contact.id, (creations.get(e.contact.id) ?? 0) + 1);
      }
      expect([...creations.entries()].filter(([, n]) => n !== 1)).toEqual([]);
      expect(creations.size).toBe(ids.size);
      expect(events.filter((e) => !ids.has(e.contact.id))).toEqual([]);
    }

    const bySource = (events: FeedEvent[]) => {
      const count: Record<string, number> = {};
      for (const e of events) count[e.source] = (count[e.source] ?? 0) + 1;
      return JSON.stringify(count);
    };
    console.info(
      `crash: ${finished.succeeded}/${IMPORT_ROWS} import rows; creates acknowledged ${acknowledgedCounts()}; ` +
        `at Acme ${tenants.map((t) => atAcme.get(t.index)?.length).join("/")}; ` +
        `feeds ${tenants.map((t) => `${feeds.get(t.index)?.length} ${bySource(feeds.get(t.index) ?? [])}`).join(", ")}; ` +
        `${idleAtKill} connection(s) idle at the kill; reconciliation started by the alarm after the restart on ` +
        `${[...startedByAlarm].map(([i, ms]) => `c${i} (${ms} ms from the restarted server's first healthy answer)`).join(", ")}` +
        (stalled.size > 0 ? `; sync job cut off on ${[...stalled].map((i) => `c${i}`).join(", ")}` : ""),
    );
  }, 420_000);
});
