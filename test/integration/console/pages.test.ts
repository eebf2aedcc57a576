import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { MAX_SEARCH_LENGTH } from "../../../src/integration/console/filters.ts";
import { newId } from "../../../src/lib/ids.ts";
import { inConnectionData } from "../connection-data-helpers.ts";
import { admin, api, createContact, newConnection, person } from "../helpers.ts";
import { consoleFetch, postForm, type SignedIn, signIn } from "./helpers.ts";

async function page(session: SignedIn, path: string): Promise<string> {
  const res = await consoleFetch(path, { cookie: session.cookie });
  expect(res.status, path).toBe(200);
  return res.text();
}

/** Every `href` of links whose text is `label`, in page order. */
function linksLabelled(html: string, label: string): string[] {
  return [...html.matchAll(/<a href="([^"]+)">([^<]+)<\/a>/g)]
    .filter((m) => m[2] === label)
    .map((m) => (m[1] ?? "").replace(/&amp;/g, "&"));
}

async function insertChanges(
  connectionId: string,
  count: number,
  firstSeq = 1,
  type = "contact.created",
  email?: string,
): Promise<void> {
  const rows: unknown[][] = [];
  for (let i = 0; i < count; i++) {
    const seq = firstSeq + i;
    const contact = {
      id: `acme_c${seq}`,
      firstName: `Person ${seq}`,
      lastName: "Test",
      email: email ?? `p${seq}@example.com`,
      version: 1,
    };
    rows.push([
      seq,
      `msg_${seq}`,
      type,
      contact.id,
      1,
      new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
      JSON.stringify(contact),
      JSON.stringify({
        firstName: { from: null, to: contact.firstName },
        email: { from: null, to: contact.email },
      }),
      "webhook",
      new Date().toISOString(),
    ]);
  }
  await inConnectionData(connectionId, (_, state) => {
    for (const row of rows) {
      state.storage.sql.exec(
        "INSERT INTO change_events (seq, event_id, type, contact_id, version, occurred_at, contact, changes, source, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ...row,
      );
    }
  });
}

function seqsIn(html: string): number[] {
  return [...html.matchAll(/data-seq="(\d+)"/g)].map((m) => Number(m[1]));
}

describe("console: connections", () => {
  it("shows a connection's health at a glance, and no secret anywhere", async () => {
    const connection = await newConnection();
    const webhookSecret = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
    const stored = await admin(`/connections/${connection.connectionId}/webhook-secret`, {
      method: "PUT",
      body: { secret: webhookSecret },
    });
    expect(stored.status).toBe(204);
    await createContact(connection.apiKey, person());
    const session = await signIn();
    const overview = await page(session, `/console/connections/${connection.connectionId}`);
    expect(overview).toContain("<dt>Circuit</dt>");
    expect(overview).toMatch(/<dd>closed \(0 recent failures\)<\/dd>/);
    expect(overview).toMatch(/<dt>Token expires<\/dt><dd><time datetime="\d{4}-/);
    expect(overview).toMatch(/<dt>Acme quota used<\/dt><dd><span><meter/);
    expect(overview).toContain("<dt>Webhooks</dt><dd>configured</dd>");
    expect(overview).toContain('<span class="badge healthy"');
    const pages = [
      overview,
      await page(session, "/console/connections"),
      await page(session, "/console/connections/table"),
      await page(session, `/console/connections/${connection.connectionId}/feed`),
      await page(session, "/console/dead-letters"),
    ];
    for (const html of pages) {
      for (const secret of [
        connection.apiKey,
        connection.acmeClient.clientSecret,
        env.ADMIN_TOKEN,
        env.ENCRYPTION_KEYS,
        env.ID_TAG_KEY,
        env.ACME_SECRET_KEYS,
        env.ACME_ADMIN_TOKEN,
        env.ACME_CLIENT_SECRET_PEPPER,
        webhookSecret,
      ]) {
        expect(html).not.toContain(secret);
      }
    }
  });

  it("pages through more than 100 connections, each once", async () => {
    const ids = Array.from({ length: 120 }, (_, i) => `conn_page_${String(i).padStart(3, "0")}`);
    const insert = env.DB.prepare(
      "INSERT INTO connections (id, name, acme_client_id, acme_client_secret_enc, created_at) VALUES (?, ?, ?, ?, ?)",
    );
    await env.DB.batch(
      ids.map((id) => insert.bind(id, `Paged ${id}`, "client", "sealed", new Date().toISOString())),
    );
    const session = await signIn();
    const seen: string[] = [];
    let path: string | undefined = "/console/connections";
    while (path) {
      const html = await page(session, path);
      seen.push(...[...html.matchAll(/data-connection-id="([^"]+)"/g)].map((m) => m[1] ?? ""));
      path = linksLabelled(html, "Next connections")[0];
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of ids) expect(seen).toContain(id);
  });

  it("creates a connection from the form and subscribes it; bad input is shown, the secret never echoed", async () => {
    const client = (await newConnection()).acmeClient;
    const session = await signIn();
    const bad = await postForm(session, "/console/connections", {
      name: "",
      acmeBaseUrl: "ftp://nope",
      acmeClientId: client.clientId,
      acmeClientSecret: "secret-never-echoed-123",
    });
    expect(bad.status).toBe(400);
    const badHtml = await bad.text();
    expect(badHtml).toContain('id="acmeBaseUrl-error"');
    expect(badHtml).toContain(`value="${client.clientId}"`);
    expect(badHtml).not.toContain("secret-never-echoed-123");

    const created = await postForm(session, "/console/connections", {
      name: "From the console",
      acmeBaseUrl: "",
      acmeClientId: client.clientId,
      acmeClientSecret: client.clientSecret,
      subscribe: "1",
    });
    expect(created.status).toBe(303);
    const location = created.headers.get("location") ?? "";
    // The subscription needs a public https URL, which a test origin is not: the console says so.
    expect(location).toMatch(/^\/console\/connections\/conn_[0-9a-z]+\?notice=subscribe-failed$/);
    const html = await page(session, location);
    expect(html).toContain("subscribing to Acme");
    expect(html).toContain("<h1>From the console</h1>");
    expect(html).not.toContain(client.clientSecret);
  });

  it("issues an API key shown once, and revokes it", async () => {
    const connection = await newConnection();
    const session = await signIn();
    const base = `/console/connections/${connection.connectionId}`;
    const issued = await postForm(session, `${base}/api-keys`);
    expect(issued.status).toBe(201);
    const key =
      /<output id="issued-key" class="secret">(ab_[^<]+)<\/output>/.exec(await issued.text())?.[1] ?? "";
    expect(key).toMatch(/^ab_/);
    expect((await api("/api/v1/contacts?limit=1", { key })).status).toBe(200);

    const overview = await page(session, base);
    expect(overview).not.toContain(key);
    const keyId = [...overview.matchAll(/data-key-id="([^"]+)"/g)].map((m) => m[1] ?? "")[0] ?? "";
    expect(overview).toContain(`${key.slice(0, 9)}…`);
    const revoked = await postForm(session, `${base}/api-keys/${keyId}/revoke`);
    expect(revoked.status).toBe(303);
    expect(revoked.headers.get("location")).toBe(`${base}?revoked=${keyId}`);
    expect((await api("/api/v1/contacts?limit=1", { key })).status).toBe(401);
    expect((await postForm(session, `${base}/api-keys/key_nope/revoke`)).status).toBe(404);
    expect((await postForm(session, "/console/connections/conn_nope/api-keys")).status).toBe(404);
  });

  it("answers an unknown connection with a 404 page", async () => {
    const session = await signIn();
    for (const path of [
      "/console/connections/conn_nope",
      "/console/connections/conn_nope/feed",
      "/console/no-such",
    ]) {
      const res = await consoleFetch(path, { cookie: session.cookie });
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    }
  });
});

describe("console: change feed", () => {
  it("shows the newest changes with their diffs, pages back through more than 100, and polls forward", async () => {
    const connection = await newConnection();
    await insertChanges(connection.connectionId, 130);
    const session = await signIn();
    const base = `/console/connections/${connection.connectionId}/feed`;
    const first = await page(session, base);
    expect(seqsIn(first)).toEqual(Array.from({ length: 50 }, (_, i) => 130 - i));
    expect(first).toContain(`hx-get="${base}/updates?after=130"`);
    expect(first).toMatch(
      /<th scope="row">email<\/th><td><del>\(empty\)<\/del><\/td><td><ins>p130@example\.com<\/ins>/,
    );

    const seen = [...seqsIn(first)];
    let older = linksLabelled(first, "Older changes")[0];
    while (older) {
      const html = await page(session, older);
      expect(html).not.toContain('id="feed-poller"');
      seen.push(...seqsIn(html));
      older = linksLabelled(html, "Older changes")[0];
    }
    expect(seen).toEqual(Array.from({ length: 130 }, (_, i) => 130 - i));

    // Nothing new: no swap at all.
    const idle = await consoleFetch(`${base}/updates?after=130`, { cookie: session.cookie });
    expect(idle.status).toBe(204);

    await insertChanges(connection.connectionId, 150, 131);
    const update = await page(session, `${base}/updates?after=130`);
    // At most 100 per poll, newest on top, and the next poller continues from the last one shown.
    expect(seqsIn(update)).toEqual(Array.from({ length: 100 }, (_, i) => 230 - i));
    expect(update).toContain('hx-swap-oob="afterbegin:#feed-list"');
    expect(update).toContain(`hx-get="${base}/updates?after=230"`);
    const rest = await page(session, `${base}/updates?after=230`);
    expect(seqsIn(rest)).toEqual(Array.from({ length: 50 }, (_, i) => 280 - i));
  });

  it("refuses a malformed feed position", async () => {
    const connection = await newConnection();
    const session = await signIn();
    for (const after of ["-1", "abc", "1.5"]) {
      const res = await consoleFetch(
        `/console/connections/${connection.connectionId}/feed/updates?after=${after}`,
        {
          cookie: session.cookie,
        },
      );
      expect(res.status, after).toBe(400);
    }
  });

  it("shows only the connection's own changes", async () => {
    const [mine, theirs] = [await newConnection(), await newConnection()];
    await insertChanges(theirs.connectionId, 3, 1);
    const session = await signIn();
    const html = await page(session, `/console/connections/${mine.connectionId}/feed`);
    expect(seqsIn(html)).toEqual([]);
    const updates = await consoleFetch(`/console/connections/${mine.connectionId}/feed/updates?after=0`, {
      cookie: session.cookie,
    });
    expect(updates.status).toBe(204);
    const theirsPage = await page(session, `/console/connections/${theirs.connectionId}/feed`);
    expect(seqsIn(theirsPage)).toEqual([3, 2, 1]);
  });
});

describe("console: dead letters", () => {
  it("pages through more than 100 dead letters and replays one onto the inbox queue", async () => {
    const connection = await newConnection();
    const insert = env.DB.prepare(
      "INSERT INTO dead_letters (id, connection_id, webhook_id, body, reason, received_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const ids = Array.from({ length: 110 }, () => newId("dl"));
    const body = (i: number) =>
      JSON.stringify({
        connectionId: connection.connectionId,
        webhookId: `msg_dl_${i}`,
        body: "{}",
        receivedAt: new Date().toISOString(),
      });
    await env.DB.batch(
      ids.map((id, i) =>
        insert.bind(
          id,
          connection.connectionId,
          `msg_dl_${i}`,
          body(i),
          "invalid event: test",
          new Date().toISOString(),
        ),
      ),
    );
    const session = await signIn();
    const seen: string[] = [];
    let path: string | undefined = "/console/dead-letters";
    while (path) {
      const html = await page(session, path);
      seen.push(...[...html.matchAll(/data-dead-letter-id="([^"]+)"/g)].map((m) => m[1] ?? ""));
      path = linksLabelled(html, "Older dead letters")[0];
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of ids) expect(seen).toContain(id);

    const target = ids[42] ?? "";
    const replayed = await postForm(session, `/console/dead-letters/${target}/replay`);
    expect(replayed.status).toBe(303);
    expect(replayed.headers.get("location")).toBe(`/console/dead-letters?replayed=${target}`);
    const row = await env.DB.prepare("SELECT replayed_at FROM dead_letters WHERE id = ?")
      .bind(target)
      .first<{ replayed_at: string | null }>();
    expect(row?.replayed_at).toMatch(/^\d{4}-/);
    const pending = await page(session, "/console/dead-letters?pending=true");
    expect(pending).not.toContain(`data-dead-letter-id="${target}"`);
  });

  it("says why a dead letter cannot be replayed, and 404s an unknown one", async () => {
    const unreadable = newId("dl");
    await env.DB.prepare(
      "INSERT INTO dead_letters (id, connection_id, webhook_id, body, reason, received_at) VALUES (?, NULL, NULL, ?, ?, ?)",
    )
      .bind(unreadable, "not json", "unreadable inbox message", new Date().toISOString())
      .run();
    const session = await signIn();
    const conflict = await postForm(session, `/console/dead-letters/${unreadable}/replay`);
    expect(conflict.status).toBe(409);
    expect(await conflict.text()).toContain("cannot be replayed");
    expect((await postForm(session, "/console/dead-letters/dl_none/replay")).status).toBe(404);
  });
});

describe("console: Acme webhook delivery log", () => {
  it("lists the connection's subscriptions at Acme, read with the connection's own credentials", async () => {
    const connection = await newConnection();
    const session = await signIn();
    const html = await page(session, `/console/connections/${connection.connectionId}/webhooks`);
    expect(html).toContain("has no webhook subscriptions");
    const unknown = await consoleFetch(`/console/connections/${connection.connectionId}/webhooks/wh_nope`, {
      cookie: session.cookie,
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain("Acme:");
  });
});

/** Every `data-<name>` value on the page, in page order. */
function dataIn(html: string, name: string): string[] {
  return [...html.matchAll(new RegExp(`data-${name}="([^"]+)"`, "g"))].map((m) => m[1] ?? "");
}

/** Follows the `label` links from `path` to the last page; every page's `data-<name>` values. */
async function everyPage(session: SignedIn, path: string, label: string, name: string): Promise<string[]> {
  const seen: string[] = [];
  let next: string | undefined = path;
  while (next) {
    const html = await page(session, next);
    seen.push(...dataIn(html, name));
    next = linksLabelled(html, label)[0];
  }
  return seen;
}

/** A console page that must be refused as a bad request, with a page saying so (never a 500). */
async function refused(session: SignedIn, path: string, says: string): Promise<void> {
  const res = await consoleFetch(path, { cookie: session.cookie });
  expect(res.status, path).toBe(400);
  expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  expect(await res.text()).toContain(says);
}

describe("console: list filters", () => {
  it("filters connections by name or id, keeps the filter while paging, and escapes what it shows", async () => {
    const token = crypto.randomUUID().slice(0, 8);
    const insert = env.DB.prepare(
      "INSERT INTO connections (id, name, acme_client_id, acme_client_secret_enc, created_at) VALUES (?, ?, ?, ?, ?)",
    );
    const matching = Array.from({ length: 25 }, (_, i) => `conn_f${token}${String(i).padStart(2, "0")}`);
    const others = Array.from({ length: 3 }, (_, i) => `conn_o${token}${i}`);
    const now = new Date().toISOString();
    await env.DB.batch([
      ...matching.map((id, i) => insert.bind(id, `Filtered ${token}_${i}`, "client", "sealed", now)),
      ...others.map((id) => insert.bind(id, `Other ${token}x <b>bold</b>`, "client", "sealed", now)),
    ]);
    const session = await signIn();

    // By name, across pages: each match once, nothing else, the filter kept by the next-page link.
    const seen = await everyPage(
      session,
      `/console/connections?q=${token}_`,
      "Next connections",
      "connection-id",
    );
    expect(seen.toSorted()).toEqual(matching);
    const first = await page(session, `/console/connections?q=${token}_`);
    expect(linksLabelled(first, "Next connections")[0]).toMatch(
      new RegExp(`^/console/connections\\?q=${token}_&after=`),
    );
    // The live refresh asks for the same filtered page.
    expect(first).toContain(`hx-get="/console/connections/table?q=${token}_"`);
    expect(first).toContain(`value="${token}_"`);
    // By id; LIKE's wildcards are taken literally ("_" is no joker: the others' "x" does not match it).
    expect(
      dataIn(await page(session, `/console/connections?q=conn_o${token}`), "connection-id").toSorted(),
    ).toEqual(others);
    // Names and the search itself are escaped.
    const other = await page(session, `/console/connections?q=${encodeURIComponent(`${token}x <b>`)}`);
    expect(dataIn(other, "connection-id").toSorted()).toEqual(others);
    expect(other).toContain("&lt;b&gt;bold&lt;/b&gt;");
    expect(other).not.toContain("<b>bold</b>");
    expect(other).toContain(`value="${token}x &lt;b&gt;"`);
    // A search as long as the box takes (D1 refuses LIKE patterns over 50 bytes: no LIKE here).
    const longName = `Long ${token} ${"n".repeat(MAX_SEARCH_LENGTH - 14)}`;
    await insert.bind(`conn_l${token}`, longName, "client", "sealed", now).run();
    expect(longName.length).toBe(MAX_SEARCH_LENGTH);
    expect(
      dataIn(await page(session, `/console/connections?q=${encodeURIComponent(longName)}`), "connection-id"),
    ).toEqual([`conn_l${token}`]);
    const none = await page(session, `/console/connections?q=${encodeURIComponent('"><script>')}`);
    expect(none).toContain("No connection matches the filter.");
    expect(none).not.toContain("<script>");
    expect(
      dataIn(await page(session, `/console/connections/table?q=${token}_`), "connection-id"),
    ).toHaveLength(20);
  });

  it("refuses a connections search that is too long or holds control characters", async () => {
    const session = await signIn();
    await refused(session, `/console/connections?q=${"a".repeat(101)}`, "too long");
    await refused(session, `/console/connections/table?q=${"a".repeat(101)}`, "too long");
    await refused(session, "/console/connections?q=a%01b", "cannot be typed");
    // Blank is no filter.
    expect(await page(session, "/console/connections?q=%20%20")).not.toContain("Clear filters");
  });

  it("filters a connection's jobs by kind and status, keeping the filter while paging", async () => {
    const connection = await newConnection();
    const insert = "INSERT INTO jobs (id, kind, status, created_at, lease_until) VALUES (?, ?, ?, ?, ?)";
    const kinds: [string, string, number][] = [
      ["import", "succeeded", 25],
      ["reconcile", "failed", 3],
      ["import", "failed", 2],
      ["backfill", "queued", 1],
    ];
    const ids: Record<string, string[]> = {};
    const statements: unknown[][] = [];
    for (const [kind, status, count] of kinds) {
      for (let i = 0; i < count; i++) {
        const id = newId("job");
        ids[`${kind}/${status}`] = [...(ids[`${kind}/${status}`] ?? []), id];
        statements.push([id, kind, status, new Date().toISOString(), Date.now() + 86_400_000]);
      }
    }
    await inConnectionData(connection.connectionId, (_, state) => {
      for (const values of statements) state.storage.sql.exec(insert, ...values);
    });
    const session = await signIn();
    const jobs = `/console/connections/${connection.connectionId}/jobs`;
    const sorted = (list: string[] | undefined) => (list ?? []).toSorted();

    expect((await everyPage(session, `${jobs}?kind=reconcile`, "Older jobs", "job-id")).toSorted()).toEqual(
      sorted(ids["reconcile/failed"]),
    );
    expect((await everyPage(session, `${jobs}?status=failed`, "Older jobs", "job-id")).toSorted()).toEqual(
      sorted([...(ids["reconcile/failed"] ?? []), ...(ids["import/failed"] ?? [])]),
    );
    expect(
      (await everyPage(session, `${jobs}?kind=import&status=failed`, "Older jobs", "job-id")).toSorted(),
    ).toEqual(sorted(ids["import/failed"]));
    // 25 succeeded imports (and the connection's own backfill): two pages, the second reached with the filter kept.
    const succeeded = `${jobs}?kind=import&status=succeeded`;
    const first = await page(session, succeeded);
    expect(dataIn(first, "job-id")).toHaveLength(20);
    expect(linksLabelled(first, "Older jobs")[0]).toMatch(/\?kind=import&status=succeeded&before=job_/);
    expect((await everyPage(session, succeeded, "Older jobs", "job-id")).toSorted()).toEqual(
      sorted(ids["import/succeeded"]),
    );
    expect(first).toMatch(/<option value="succeeded" selected="">succeeded<\/option>/);
    // A live table refreshes itself with its filter.
    const queued = `kind=backfill&status=queued`;
    const live = await page(session, `${jobs}?${queued}`);
    expect(dataIn(live, "job-id")).toEqual(ids["backfill/queued"]);
    expect(live).toContain(`hx-get="${jobs}/table?kind=backfill&amp;status=queued"`);
    expect(dataIn(await page(session, `${jobs}/table?${queued}`), "job-id")).toEqual(ids["backfill/queued"]);
    expect(await page(session, `${jobs}?kind=reconcile&status=succeeded`)).toContain(
      "No job matches the filter.",
    );
  });

  it("refuses an unknown job kind or status", async () => {
    const connection = await newConnection();
    const session = await signIn();
    const jobs = `/console/connections/${connection.connectionId}/jobs`;
    await refused(session, `${jobs}?kind=sync`, "There is no such job kind");
    await refused(session, `${jobs}?status=${encodeURIComponent("<script>")}`, "There is no such job status");
    await refused(session, `${jobs}/table?status=done`, "There is no such job status");
    expect(
      await (await consoleFetch(`${jobs}?status=%3Cscript%3E`, { cookie: session.cookie })).text(),
    ).not.toContain("<script>");
  });

  it("filters the change feed by contact and change type, while paging and in its live updates", async () => {
    const connection = await newConnection();
    await insertChanges(connection.connectionId, 70, 1, "contact.created");
    await insertChanges(connection.connectionId, 60, 71, "contact.updated");
    const session = await signIn();
    const feed = `/console/connections/${connection.connectionId}/feed`;

    // By contact id (exact) or email (contains, any case, however long).
    expect(seqsIn(await page(session, `${feed}?contact=acme_c7`))).toEqual([7]);
    await insertChanges(
      connection.connectionId,
      1,
      131,
      "contact.updated",
      `${"long.".repeat(14)}x@example.com`,
    );
    expect(seqsIn(await page(session, `${feed}?contact=${"LONG.".repeat(14)}x%40example.com`))).toEqual([
      131,
    ]);
    expect(seqsIn(await page(session, `${feed}?contact=P12%40EXAMPLE`))).toEqual([12]);
    expect(seqsIn(await page(session, `${feed}?contact=p12`)).toSorted((a, b) => a - b)).toEqual([
      12, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129,
    ]);
    // By type, across pages, the filter kept.
    const updated = await page(session, `${feed}?type=contact.updated`);
    expect(seqsIn(updated)).toEqual(Array.from({ length: 50 }, (_, i) => 131 - i));
    const older = linksLabelled(updated, "Older changes")[0] ?? "";
    expect(older).toBe(`${feed}?type=contact.updated&before=82`);
    expect(seqsIn(await page(session, older))).toEqual(Array.from({ length: 11 }, (_, i) => 81 - i));
    expect(seqsIn(await page(session, `${feed}?type=contact.created&contact=p13`))).toEqual([13]);
    expect(await page(session, `${feed}?type=contact.deleted`)).toContain("No change matches the filter.");

    // The live poller asks only for what the filter keeps.
    const created = await page(session, `${feed}?type=contact.created`);
    expect(created).toContain(`hx-get="${feed}/updates?type=contact.created&amp;after=70"`);
    await insertChanges(connection.connectionId, 2, 132, "contact.updated");
    await insertChanges(connection.connectionId, 2, 134, "contact.created");
    const update = await page(session, `${feed}/updates?type=contact.created&after=70`);
    expect(seqsIn(update)).toEqual([135, 134]);
    expect(update).toContain(`hx-get="${feed}/updates?type=contact.created&amp;after=135"`);
  });

  it("refuses an unknown change type or a bad contact search", async () => {
    const connection = await newConnection();
    const session = await signIn();
    const feed = `/console/connections/${connection.connectionId}/feed`;
    await refused(session, `${feed}?type=contact.merged`, "There is no such change type");
    await refused(session, `${feed}/updates?after=0&type=nope`, "There is no such change type");
    await refused(session, `${feed}?contact=${"x".repeat(101)}`, "too long");
    // LIKE's wildcards are literal: "%" alone matches no email here.
    await insertChanges(connection.connectionId, 3);
    expect(seqsIn(await page(session, `${feed}?contact=%25`))).toEqual([]);
  });

  it("lists a connection's API keys 20 to a page, filtered by prefix or id and by state", async () => {
    const connection = await newConnection();
    const insert = env.DB.prepare(
      "INSERT INTO api_keys (id, connection_id, key_hash, prefix, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    const keys = Array.from({ length: 60 }, (_, i) => ({
      id: newId("key"),
      prefix: `ab_t${String(i).padStart(5, "0")}`,
      revoked: i % 3 !== 0,
    }));
    const now = new Date().toISOString();
    await env.DB.batch(
      keys.map((k) =>
        insert.bind(
          k.id,
          connection.connectionId,
          crypto.randomUUID(),
          k.prefix,
          now,
          k.revoked ? now : null,
        ),
      ),
    );
    const session = await signIn();
    const overview = `/console/connections/${connection.connectionId}`;
    const all = await page(session, overview);
    // The connection's own key (newConnection issues one) and the 60 above: 20 a page.
    expect(dataIn(all, "key-id")).toHaveLength(20);
    const seen = await everyPage(session, overview, "Older keys", "key-id");
    expect(seen).toHaveLength(61);
    expect(new Set(seen).size).toBe(61);

    const revoked = await everyPage(session, `${overview}?keyState=revoked`, "Older keys", "key-id");
    expect(revoked.toSorted()).toEqual(
      keys
        .filter((k) => k.revoked)
        .map((k) => k.id)
        .toSorted(),
    );
    const firstRevoked = await page(session, `${overview}?keyState=revoked`);
    expect(linksLabelled(firstRevoked, "Older keys")[0]).toMatch(/\?keyState=revoked&keysBefore=key_/);
    expect(dataIn(await page(session, `${overview}?keys=ab_t0001`), "key-id").toSorted()).toEqual(
      keys
        .filter((k) => k.prefix.startsWith("ab_t0001"))
        .map((k) => k.id)
        .toSorted(),
    );
    const target = keys[42]?.id ?? "";
    expect(dataIn(await page(session, `${overview}?keys=${target}`), "key-id")).toEqual([target]);
    expect(
      dataIn(await page(session, `${overview}?keys=ab_t0001&keyState=active`), "key-id").toSorted(),
    ).toEqual(
      keys
        .filter((k) => k.prefix.startsWith("ab_t0001") && !k.revoked)
        .map((k) => k.id)
        .toSorted(),
    );
    expect(await page(session, `${overview}?keys=nothing-like-it`)).toContain(
      "No API key matches the filter.",
    );
  });

  it("refuses an unknown key state or a too long key search", async () => {
    const connection = await newConnection();
    const session = await signIn();
    const overview = `/console/connections/${connection.connectionId}`;
    await refused(session, `${overview}?keyState=expired`, "There is no such key state");
    await refused(session, `${overview}?keys=${"k".repeat(101)}`, "too long");
  });
});
