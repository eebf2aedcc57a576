import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Job } from "../../client/index.ts";
import { localSettings } from "../../scripts/dev-vars.ts";
import { generateSecrets } from "../../scripts/secrets.ts";
import {
  applyLocalMigrations,
  type DevServer,
  freePort,
  startDevServer,
} from "../../scripts/wrangler-dev.ts";

// Its own wrangler dev (not the suite's shared one): this test kills it and starts it again on
// the same state directory and port.

interface FeedEvent {
  seq: number;
  type: string;
  contact: { id: string; email: string };
}

const IMPORT_ROWS = 300;
const persistTo = mkdtempSync(join(tmpdir(), "acme-bridge-crash-"));
let server: DevServer | undefined;

afterAll(async () => {
  await server?.stop();
  rmSync(persistTo, { recursive: true, force: true });
});

function until<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  detail: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  return (async () => {
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms ${detail()}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  })();
}

describe("a crash of wrangler dev mid-import and mid-stream of creates", () => {
  it("loses no acknowledged write and duplicates none, at Acme or in the change feed", async () => {
    applyLocalMigrations(persistTo);
    const port = await freePort();
    const secrets = await generateSecrets();
    // A short job lease, so the cron sweep restarts the interrupted instance soon after the restart.
    const vars = { ...localSettings(port), ...secrets, JOB_LEASE_MS: "3000" };
    const start = () => startDevServer({ port, persistTo, testScheduled: true, vars });
    server = await start();
    const base = server.url;
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

    const client = (await (
      await call("/acme/admin/clients", secrets.ACME_ADMIN_TOKEN ?? "", {
        method: "POST",
        // Quota enough that the import is quick: this test is about the crash, not pacing.
        body: JSON.stringify({
          name: "crash",
          rate_limits: {
            read: { limit: 2000, windowSeconds: 10 },
            write: { limit: 1000, windowSeconds: 10 },
          },
        }),
      })
    ).json()) as { client_id: string; client_secret: string };
    const connection = (await (
      await call("/api/v1/admin/connections", secrets.ADMIN_TOKEN ?? "", {
        method: "POST",
        body: JSON.stringify({
          name: "crash",
          acmeClientId: client.client_id,
          acmeClientSecret: client.client_secret,
        }),
      })
    ).json()) as { id: string };
    const { apiKey } = (await (
      await call(`/api/v1/admin/connections/${connection.id}/api-keys`, secrets.ADMIN_TOKEN ?? "", {
        method: "POST",
      })
    ).json()) as { apiKey: string };
    const subscribed = await call(
      `/api/v1/admin/connections/${connection.id}/webhook-subscription`,
      secrets.ADMIN_TOKEN ?? "",
      {
        method: "POST",
      },
    );
    expect(subscribed.status).toBe(201);

    const run = crypto.randomUUID().slice(0, 8);
    const importEmails = Array.from({ length: IMPORT_ROWS }, (_, i) => `import${i}.${run}@example.com`);
    const csv = ["firstName,lastName,email", ...importEmails.map((e, i) => `Row,${i},${e}`)].join("\n");
    const started = await call("/api/v1/imports", apiKey, { method: "POST", body: csv, type: "text/csv" });
    expect(started.status).toBe(202);
    const job = (await started.json()) as Job;

    // Creates stream in while the import runs; only those answered 201 were acknowledged.
    const acknowledged: string[] = [];
    const refused: string[] = [];
    let processed = 0;
    let streaming = true;
    const stream = (async () => {
      for (let i = 0; streaming; i++) {
        const email = `stream${i}.${run}@example.com`;
        try {
          const res = await call("/api/v1/contacts", apiKey, {
            method: "POST",
            body: JSON.stringify({ firstName: "Stream", lastName: String(i), email }),
          });
          if (res.status === 201) acknowledged.push(email);
          else refused.push(`${res.status} ${await res.text()}`);
        } catch {
          // the server is gone: not acknowledged
        }
      }
    })();

    // Kill mid-import and mid-stream: some rows done, most not, and some creates acknowledged.
    await until(
      async () => {
        const current = (await (await call(`/api/v1/jobs/${job.id}`, apiKey)).json()) as Job;
        processed = current.processed;
        return current.processed >= 20 && acknowledged.length >= 5 ? current : undefined;
      },
      60_000,
      "the import and the stream of creates to get going",
      () =>
        `(rows processed ${processed}, creates acknowledged ${acknowledged.length}, refused: ${refused.join("; ")})`,
    );
    await server.kill();
    streaming = false;
    await stream;
    // Before the kill, no create was refused: a refusal would be a fault, not the crash.
    expect(
      refused.filter((r) => !r.startsWith("5")),
      refused.join("\n"),
    ).toEqual([]);

    server = await start();
    // The interrupted instance does not resume by itself: the cron sweep restarts it once its
    // lease ran out; the same cron run reconciles what the webhooks lost in the crash.
    const finished = await until(
      async () => {
        await fetch(`${base}/__scheduled?cron=*/5+*+*+*+*`);
        const current = (await (await call(`/api/v1/jobs/${job.id}`, apiKey)).json()) as Job;
        return current.status === "succeeded" ? current : undefined;
      },
      180_000,
      "the import to finish after the restart",
    );
    expect(finished).toMatchObject({
      total: IMPORT_ROWS,
      processed: IMPORT_ROWS,
      succeeded: IMPORT_ROWS,
      failed: 0,
    });

    const token = (
      (await (
        await fetch(`${base}/acme/oauth/token`, {
          method: "POST",
          headers: { authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
          body: new URLSearchParams({ grant_type: "client_credentials" }),
        })
      ).json()) as { access_token: string }
    ).access_token;
    const atAcme: { id: string; acme_email: string }[] = [];
    let after: string | undefined;
    do {
      const res = await call(`/acme/v1/contacts?limit=100${after ? `&after=${after}` : ""}`, token);
      const page = (await res.json()) as {
        results: { id: string; acme_email: string }[];
        paging?: { next: { after: string } };
      };
      atAcme.push(...page.results);
      after = page.paging?.next.after;
    } while (after);
    const acmeCount = new Map<string, number>();
    for (const c of atAcme) acmeCount.set(c.acme_email, (acmeCount.get(c.acme_email) ?? 0) + 1);
    for (const email of [...importEmails, ...acknowledged]) expect(acmeCount.get(email), email).toBe(1);
    expect([...acmeCount.values()].every((n) => n === 1)).toBe(true);

    // Every contact at Acme reaches the feed as exactly one creation.
    const wanted = new Set(atAcme.map((c) => c.id));
    const created = await until(
      async () => {
        await fetch(`${base}/__scheduled?cron=*/5+*+*+*+*`);
        const events: FeedEvent[] = [];
        let seq = 0;
        for (;;) {
          const res = await call(`/api/v1/events?after=${seq}&limit=500`, apiKey);
          const page = (await res.json()) as { data: FeedEvent[]; nextAfter: number };
          events.push(...page.data);
          if (page.data.length === 0) break;
          seq = page.nextAfter;
        }
        const creations = events.filter((e) => e.type === "contact.created");
        return [...wanted].every((id) => creations.some((e) => e.contact.id === id)) ? creations : undefined;
      },
      180_000,
      "every contact in the change feed",
    );
    const perContact = new Map<string, number>();
    for (const e of created) perContact.set(e.contact.id, (perContact.get(e.contact.id) ?? 0) + 1);
    expect([...perContact.values()].every((n) => n === 1)).toBe(true);
    expect(perContact.size).toBe(atAcme.length);
  }, 420_000);
});
