import { Webhook } from "standardwebhooks";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DELIVERY_LOG_PAGE_SIZE } from "../../../src/integration/console/destination-routes.tsx";
import { type CourierDeps, courierRuntime } from "../../../src/integration/destinations/courier.ts";
import { inConnectionData } from "../connection-data-helpers.ts";
import { api, newConnection, type TestConnection } from "../helpers.ts";
import { acmeContact, consume, eventBody, inboxMessage } from "../inbox-helpers.ts";
import { consoleFetch, postForm, type SignedIn, signIn } from "./helpers.ts";

// The console's destinations pages, against the real Worker; couriers POST to a receiver handed in
// through `courierRuntime` (as in test/integration/destinations.test.ts).

const RECEIVER = "https://hooks.acme-bridge.dev/console";

interface Destination {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  status: string;
  secret?: string;
}

interface Received {
  headers: Record<string, string>;
  body: string;
}

let received: Received[] = [];
let answer: () => Response = () => new Response("ok");
const saved = { ...courierRuntime };

beforeEach(() => {
  received = [];
  answer = () => new Response("ok");
  Object.assign(courierRuntime, {
    fetch: async (_url: string, init: RequestInit) => {
      received.push({
        headers: Object.fromEntries(new Headers(init.headers).entries()),
        body: String(init.body),
      });
      return answer();
    },
    now: () => Date.now(),
    random: () => 0.5,
  } satisfies CourierDeps);
});

afterEach(() => {
  Object.assign(courierRuntime, saved);
});

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function page(session: SignedIn, path: string, status = 200): Promise<string> {
  const res = await consoleFetch(path, { cookie: session.cookie });
  expect(res.status, path).toBe(status);
  return res.text();
}

/** A contact change arriving through Acme's webhooks: it goes into the feed and to the destinations. */
async function change(connection: TestConnection, contactId: string) {
  await consume([
    {
      body: inboxMessage(
        connection.connectionId,
        `msg_${contactId}`,
        eventBody("contact.created", acmeContact(contactId, 1)),
      ),
    },
  ]);
}

async function destinations(connection: TestConnection): Promise<Destination[]> {
  const res = await api("/api/v1/destinations", { key: connection.apiKey });
  expect(res.status).toBe(200);
  return (await res.json<{ data: Destination[] }>()).data;
}

async function destinationViaApi(connection: TestConnection, body: Record<string, unknown> = {}) {
  const res = await api("/api/v1/destinations", {
    key: connection.apiKey,
    method: "POST",
    body: { url: RECEIVER, ...body },
  });
  expect(res.status).toBe(201);
  return res.json<Destination>();
}

async function attemptsOf(connection: TestConnection, id: string) {
  const res = await api(`/api/v1/destinations/${id}/deliveries?limit=100`, { key: connection.apiKey });
  return (await res.json<{ data: { deliveryId: string; status: string; attempt: number }[] }>()).data;
}

function path(connection: TestConnection, rest = ""): string {
  return `/console/connections/${connection.connectionId}/destinations${rest}`;
}

function secretOn(html: string): string {
  const secret = /<output id="destination-secret" class="secret">(whsec_[A-Za-z0-9+/=]+)<\/output>/.exec(
    html,
  )?.[1];
  if (!secret) throw new Error("no secret on the page");
  return secret;
}

function htmlText(html: string): string {
  return html
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
}

describe("console: destinations", () => {
  it("lists the connection's destinations on their own tab, and adds one whose secret is shown once, never again", async () => {
    const connection = await newConnection();
    const session = await signIn();
    const empty = await page(session, path(connection));
    expect(empty).toContain(`<a href="${path(connection)}" aria-current="page">Destinations</a>`);
    expect(empty).toContain("No destinations yet");
    expect(empty).toContain("<legend>Changes to send</legend>");

    const res = await postForm(session, path(connection), {
      url: ` ${RECEIVER} `,
      events: ["contact.*"],
      description: "our app",
    });
    expect(res.status).toBe(201);
    const created = await res.text();
    const secret = secretOn(created);
    expect(created).toContain("it is shown this once");
    const [stored] = await destinations(connection);
    expect(stored).toMatchObject({
      url: RECEIVER,
      events: ["contact.created", "contact.updated", "contact.deleted"],
      description: "our app",
      status: "enabled",
    });
    expect(created).toContain(`Destination ${stored?.id} added.`);

    // The secret shown is the one deliveries are signed with.
    await change(connection, "ct_console_1");
    await until(() => received.length === 1, "the delivery");
    expect(() =>
      new Webhook(secret).verify(received[0]?.body ?? "", received[0]?.headers ?? {}),
    ).not.toThrow();

    const list = await page(session, path(connection));
    const detail = await page(session, path(connection, `/${stored?.id}`));
    for (const html of [list, detail, await page(session, `${path(connection, `/${stored?.id}`)}/log`)]) {
      expect(html).not.toContain(secret);
      expect(html).not.toContain(secret.slice(6, 30));
    }
    const row = /<tr data-destination-id="dst_[^"]+">.*?<\/tr>/s.exec(list)?.[0] ?? "";
    expect(row).toContain(`<code>${RECEIVER}</code>`);
    expect(row).toContain("all contact changes");
    expect(row).toContain('data-destination-status="enabled"');
    expect(row).toContain("our app");
    expect(row).toMatch(/<time datetime="\d{4}-/);
    expect(detail).toContain("<dt>Signing secret</dt><dd>one secret (shown only when it was made)</dd>");

    // Only some types: the checkboxes chosen, and nothing else.
    const some = await postForm(session, path(connection), {
      url: `${RECEIVER}/deletions`,
      events: ["contact.deleted", "contact.updated"],
    });
    expect(some.status).toBe(201);
    const second = (await destinations(connection)).find((d) => d.url === `${RECEIVER}/deletions`);
    expect(second).toMatchObject({ events: ["contact.updated", "contact.deleted"], description: null });
    expect(secretOn(await some.text())).not.toBe(secret);
  });

  it("answers every bad input on the page, the URL policy's message beside the URL, and adds nothing", async () => {
    const connection = await newConnection();
    const session = await signIn();
    for (const url of [
      "http://hooks.acme-bridge.dev/in",
      "https://10.0.0.7/in",
      "https://localhost/in",
      "https://[::1]/in",
      "not a url",
    ]) {
      const res = await postForm(session, path(connection), { url, events: ["contact.*"] });
      expect(res.status, url).toBe(400);
      const html = await res.text();
      // The very sentence the API answers for the same URL.
      const viaApi = await api("/api/v1/destinations", {
        key: connection.apiKey,
        method: "POST",
        body: { url },
      });
      const detail = (await viaApi.json<{ detail: string }>()).detail;
      expect(detail).toMatch(/^The destination URL is not allowed: /);
      expect(htmlText(html), url).toContain(`<p class="error" id="url-error">${detail}</p>`);
      expect(html).toContain('aria-invalid="true" aria-describedby="url-hint url-error"');
      expect(htmlText(html)).toContain(`value="${url}"`);
      expect(html).toContain('role="alert"');
      expect(html).not.toContain("validation_failed");
      expect(html).not.toContain('"errors"');
    }
    const cases: [Record<string, string | string[]>, string][] = [
      [{ url: "", events: ["contact.*"] }, "Enter the URL to send the changes to."],
      [{ url: `${RECEIVER}/${"x".repeat(2048)}`, events: ["contact.*"] }, "at most 2048 characters"],
      [{ url: RECEIVER }, "Choose the changes to send: all contact changes, or at least one type."],
      [{ url: RECEIVER, events: ["contact.merged"] }, 'There is no change type "contact.merged"'],
      [
        { url: RECEIVER, events: ["contact.*"], description: "d".repeat(501) },
        "The description is too long: at most 500 characters.",
      ],
    ];
    for (const [form, message] of cases) {
      const res = await postForm(session, path(connection), form);
      expect(res.status, message).toBe(400);
      expect(htmlText(await res.text())).toContain(message);
    }
    expect(await destinations(connection)).toEqual([]);
  });

  it("disables and enables a destination; disabling ends a pending delivery as failed and offers its Retry", async () => {
    const connection = await newConnection();
    const destination = await destinationViaApi(connection);
    const session = await signIn();
    const detailPath = path(connection, `/${destination.id}`);
    answer = () => new Response("not now", { status: 503, headers: { "retry-after": "3600" } });
    await change(connection, "ct_console_d1");
    await until(async () => (await attemptsOf(connection, destination.id)).length === 1, "the first attempt");
    const [first] = await attemptsOf(connection, destination.id);
    const deliveryId = first?.deliveryId ?? "";

    const pending = await page(session, detailPath);
    expect(pending).toContain(`data-delivery-id="${deliveryId}" data-status="pending"`);
    expect(pending).toContain("<pre>not now</pre>");
    expect(pending).not.toContain(`Retry delivery ${deliveryId}`); // pending: nothing to retry
    expect(pending).toContain('aria-label="Disable this destination"');

    const disabled = await postForm(session, `${detailPath}/disable`);
    expect(disabled.status).toBe(303);
    expect(disabled.headers.get("location")).toBe(`${detailPath}?done=disabled`);
    expect((await destinations(connection))[0]?.status).toBe("disabled");
    const after = await page(session, `${detailPath}?done=disabled`);
    expect(after).toContain("Destination disabled");
    expect(after).toContain('data-destination-status="disabled"');
    expect(after).toContain('aria-label="Enable this destination"');
    // The log still says what the attempt led to then; the delivery now is failed, with Retry.
    expect(after).toContain(`data-delivery-id="${deliveryId}" data-status="pending"`);
    expect(after).toContain(`aria-label="Retry delivery ${deliveryId}"`);

    const enabled = await postForm(session, `${detailPath}/enable`);
    expect(enabled.status).toBe(303);
    expect(enabled.headers.get("location")).toBe(`${detailPath}?done=enabled`);
    expect((await destinations(connection))[0]?.status).toBe("enabled");
    expect(await page(session, `${detailPath}?done=enabled`)).toContain("Destination enabled");

    answer = () => new Response("ok");
    const retried = await postForm(session, `${detailPath}/deliveries/${deliveryId}/retry`);
    expect(retried.status).toBe(303);
    expect(retried.headers.get("location")).toBe(`${detailPath}?retried=${deliveryId}`);
    await until(
      async () => (await attemptsOf(connection, destination.id))[0]?.status === "succeeded",
      "the retried delivery",
    );
    expect(received.at(-1)?.headers["webhook-id"]).toBe(received[0]?.headers["webhook-id"]);
    const done = await page(session, `${detailPath}?retried=${deliveryId}`);
    expect(done).toContain(`Delivery ${deliveryId} is being sent again now.`);
    expect(done.indexOf('data-status="succeeded"')).toBeLessThan(done.indexOf('data-status="pending"'));
    expect((await postForm(session, `${detailPath}/deliveries/dlv_nope/retry`)).status).toBe(404);
  });

  it("rotates the secret: the new one is shown once, and the old one goes on signing for 24 hours", async () => {
    const connection = await newConnection();
    const destination = await destinationViaApi(connection);
    const session = await signIn();
    const detailPath = path(connection, `/${destination.id}`);
    const res = await postForm(session, `${detailPath}/rotate-secret`);
    expect(res.status).toBe(200);
    const html = await res.text();
    const rotated = secretOn(html);
    expect(rotated).not.toBe(destination.secret);
    expect(html).toContain("The old secret keeps signing for 24 hours");
    const later = await page(session, detailPath);
    expect(later).not.toContain(rotated);
    expect(later).toMatch(/rotated; the previous secret signs too until <time datetime="/);

    await change(connection, "ct_console_r1");
    await until(() => received.length === 1, "the delivery");
    for (const secret of [rotated, destination.secret ?? ""]) {
      expect(() =>
        new Webhook(secret).verify(received[0]?.body ?? "", received[0]?.headers ?? {}),
      ).not.toThrow();
    }
  });

  it("deletes a destination only through its confirmation step", async () => {
    const connection = await newConnection();
    const destination = await destinationViaApi(connection);
    const session = await signIn();
    const detailPath = path(connection, `/${destination.id}`);
    expect(await page(session, detailPath)).toContain(`<a href="${detailPath}/delete" class="danger-link">`);
    const confirm = await page(session, `${detailPath}/delete`);
    expect(confirm).toContain("This cannot be undone");
    expect(confirm).toContain(`<form method="post" action="${detailPath}/delete" class="card">`);
    expect(confirm).toContain("Delete the destination for good");
    expect(await destinations(connection)).toHaveLength(1); // asking deleted nothing

    const res = await postForm(session, `${detailPath}/delete`);
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`${path(connection)}?deleted=${destination.id}`);
    expect(await destinations(connection)).toEqual([]);
    expect(await page(session, `${path(connection)}?deleted=${destination.id}`)).toContain(
      `Destination ${destination.id} deleted, with its deliveries and their log.`,
    );
    expect((await postForm(session, `${detailPath}/delete`)).status).toBe(404);
    await page(session, detailPath, 404);
    // An open log learns it is gone and stops asking.
    const log = await page(session, `${detailPath}/log`);
    expect(log).toContain("This destination was deleted.");
    expect(log).not.toContain("hx-trigger");
  });

  it("sends again since a time what was not delivered, and answers a bad or future time on the page", async () => {
    const connection = await newConnection();
    const destination = await destinationViaApi(connection);
    const session = await signIn();
    const detailPath = path(connection, `/${destination.id}`);
    const detail = await page(session, detailPath);
    expect(detail).toContain('<label for="since">Send again everything not delivered since (UTC)</label>');
    expect(detail).toMatch(
      /id="since" name="since" type="datetime-local" step="1" required="" value="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"/,
    );

    const since = new Date(Date.now() - 60_000).toISOString().slice(0, 16); // minutes, UTC
    expect((await postForm(session, `${detailPath}/disable`)).status).toBe(303);
    await change(connection, "ct_console_missed");
    expect((await postForm(session, `${detailPath}/enable`)).status).toBe(303);
    expect(received).toEqual([]);

    const res = await postForm(session, `${detailPath}/recover`, { since });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe(`${detailPath}?recovered=1`);
    await until(() => received.length === 1, "the recovered delivery");
    const sent = JSON.parse(received[0]?.body ?? "{}") as { data: { contact: { id: string } } };
    expect(sent.data.contact.id).toBe("ct_console_missed");
    expect(await page(session, `${detailPath}?recovered=1`)).toContain("1 delivery is being sent again now.");
    await until(
      async () => (await attemptsOf(connection, destination.id))[0]?.status === "succeeded",
      "the delivery logged",
    );
    const again = await postForm(session, `${detailPath}/recover`, { since });
    expect(again.headers.get("location")).toBe(`${detailPath}?recovered=0`);
    expect(await page(session, `${detailPath}?recovered=0`)).toContain("Nothing to send again");

    const future = new Date(Date.now() + 3_600_000).toISOString().slice(0, 16);
    for (const [value, message] of [
      ["", "Enter the date and time (UTC) to send again from."],
      ["yesterday", "Enter the date and time as YYYY-MM-DDTHH:MM, in UTC"],
      ["2026-02-30T10:00", "There is no such date and time: 2026-02-30T10:00."],
      ["2026-02-01T24:00", "There is no such date and time"],
      [future, "That time is in the future"],
    ] as const) {
      const bad = await postForm(session, `${detailPath}/recover`, { since: value });
      expect(bad.status, value).toBe(400);
      const html = await bad.text();
      expect(html, value).toContain(`<p class="error" id="since-error">${message}`);
      expect(html).toContain(`value="${value}"`);
      expect(html).toContain("Nothing was sent again.");
    }
    expect(received).toHaveLength(1);
  });

  it("pages the delivery log newest first, filters it by status, and refreshes it as a fragment", async () => {
    const connection = await newConnection();
    const destination = await destinationViaApi(connection);
    const session = await signIn();
    const detailPath = path(connection, `/${destination.id}`);
    const total = DELIVERY_LOG_PAGE_SIZE + 7;
    await inConnectionData(connection.connectionId, (_, state) => {
      for (let i = 1; i <= total; i++) {
        const status = i % 3 === 0 ? "failed" : i % 3 === 1 ? "succeeded" : "pending";
        const at = Date.now() - (total - i) * 1000;
        state.storage.sql.exec(
          `INSERT INTO deliveries (id, destination_id, seq, event_id, status, attempts, next_attempt_at, lease_until, created_at)
           VALUES (?, ?, ?, ?, ?, 1, ?, 0, ?)`,
          `dlv_log${String(i).padStart(3, "0")}`,
          destination.id,
          i,
          `msg_log${i}`,
          status,
          at + 3_600_000,
          at,
        );
        state.storage.sql.exec(
          `INSERT INTO delivery_attempts (id, delivery_id, destination_id, seq, event_id, attempt, status, response_status, response_excerpt, error, duration_ms, attempted_at, next_attempt_at)
           VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, NULL, 12, ?, ?)`,
          `att_log${String(i).padStart(3, "0")}`,
          `dlv_log${String(i).padStart(3, "0")}`,
          destination.id,
          i,
          `msg_log${i}`,
          status,
          status === "succeeded" ? 200 : 500,
          `answer ${i}`,
          at,
          status === "pending" ? at + 3_600_000 : null,
        );
      }
    });
    const seqs = (html: string) =>
      [...html.matchAll(/data-attempt-id="att_log(\d+)"/g)].map((m) => Number(m[1]));
    const first = await page(session, detailPath);
    expect(seqs(first)).toEqual(Array.from({ length: DELIVERY_LOG_PAGE_SIZE }, (_, i) => total - i));
    expect(first).toContain(`hx-get="${detailPath}/log" hx-trigger="every 3s" hx-swap="outerHTML"`);
    // Retry on each delivery that is not pending, and only there.
    expect((first.match(/aria-label="Retry delivery /g) ?? []).length).toBe(
      seqs(first).filter((s) => s % 3 !== 2).length,
    );
    const older = /<a href="([^"]+)">Older attempts<\/a>/.exec(first)?.[1]?.replace(/&amp;/g, "&") ?? "";
    expect(older).toBe(`${detailPath}?before=att_log008`);
    expect(seqs(await page(session, older))).toEqual([7, 6, 5, 4, 3, 2, 1]);

    const failed = await page(session, `${detailPath}?status=failed`);
    const failedSeqs = seqs(failed);
    expect(failedSeqs.length).toBeGreaterThan(0);
    expect(failedSeqs.every((s) => s % 3 === 0)).toBe(true);
    expect(failed).toContain(`hx-get="${detailPath}/log?status=failed"`);
    const fragment = await page(session, `${detailPath}/log?status=failed`);
    expect(fragment.startsWith('<div id="delivery-log"')).toBe(true);
    expect(seqs(fragment)).toEqual(failedSeqs);

    expect(await page(session, `${detailPath}?status=lost`, 400)).toContain(
      "There is no such delivery status; choose one of pending, succeeded, failed.",
    );
    await page(session, `${detailPath}?before=dlv_x`, 400);
    await page(session, `${detailPath}/log?before=att_'`, 400);
  });

  it("is 404 for another connection's destination, an unknown connection or destination", async () => {
    const connection = await newConnection();
    const other = await newConnection();
    const destination = await destinationViaApi(connection);
    const session = await signIn();
    await page(session, path(other, `/${destination.id}`), 404);
    expect((await postForm(session, `${path(other, `/${destination.id}`)}/disable`)).status).toBe(404);
    expect((await postForm(session, `${path(other, `/${destination.id}`)}/rotate-secret`)).status).toBe(404);
    await page(session, "/console/connections/conn_nope/destinations", 404);
    expect(
      (
        await postForm(session, "/console/connections/conn_nope/destinations", {
          url: RECEIVER,
          events: "contact.*",
        })
      ).status,
    ).toBe(404);
    await page(session, path(connection, "/dst_nope"), 404);
    expect((await destinations(connection))[0]?.status).toBe("enabled");
  });

  it("refuses a form from another site and one without the session's CSRF token, changing nothing", async () => {
    const connection = await newConnection();
    const destination = await destinationViaApi(connection);
    const session = await signIn();
    const detailPath = path(connection, `/${destination.id}`);
    const crossSite = await consoleFetch(path(connection), {
      cookie: session.cookie,
      form: { _csrf: session.csrf, url: `${RECEIVER}/evil`, events: "contact.*" },
      origin: "https://evil.example",
      headers: { "sec-fetch-site": "cross-site" },
    });
    expect(crossSite.status).toBe(403);
    expect(await crossSite.text()).toContain("sent from another site");
    for (const action of ["", "/disable", "/rotate-secret", "/delete", "/recover"]) {
      const target = action === "" ? path(connection) : `${detailPath}${action}`;
      const missing = await consoleFetch(target, {
        cookie: session.cookie,
        form: { url: `${RECEIVER}/evil`, events: "contact.*", since: "2026-01-01T00:00" },
      });
      expect(missing.status, target).toBe(403);
    }
    const list = await destinations(connection);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ id: destination.id, status: "enabled" });
    // Signed out: to the sign-in page, nothing done.
    const signedOut = await consoleFetch(`${detailPath}/disable`, { cookie: null, form: {} });
    expect(signedOut.status).toBe(303);
    expect(signedOut.headers.get("location")).toBe("/console/sign-in");
  });
});
