import type { Browser, BrowserContext, Page } from "playwright-core";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, localOnlyContext, screenshot } from "./browser.ts";
import {
  acmeAdmin,
  acmeToken,
  admin,
  base,
  type E2eConnection,
  eventually,
  newConnection,
  post,
} from "./helpers.ts";
import { startWebhookReceiver } from "./webhook-receiver.ts";

/** The browser's own, inside `evaluate` callbacks (this file is compiled without the DOM library). */
declare function getComputedStyle(element: unknown): { color: string };

let browser: Browser;
let context: BrowserContext;
let offOrigin: string[];
let page: Page;
/** A connection subscribed to its Acme account's webhooks, as `npm start`'s demo connection is. */
let demo: E2eConnection;
/** The destination pages the destinations test made, for the phone-width check to visit too. */
const destinationPages: string[] = [];

async function signInThroughTheForm(target: Page, next = "/console"): Promise<void> {
  await target.goto(`${base}${next}`);
  await target.waitForURL(/\/console\/sign-in/);
  await target.getByLabel("Admin token").fill(admin);
  await target.getByRole("button", { name: "Sign in" }).click();
  await target.waitForURL((url) => !url.pathname.startsWith("/console/sign-in"));
}

beforeAll(async () => {
  demo = await newConnection();
  await post(`/api/v1/admin/connections/${demo.connectionId}/webhook-subscription`, admin, {});
  // One call through the integration, so the connection has a token and has seen Acme's quota.
  const res = await fetch(`${base}/api/v1/contacts?limit=1`, {
    headers: { authorization: `Bearer ${demo.apiKey}` },
  });
  expect(res.status).toBe(200);
  browser = await launchChromium();
  ({ context, offOrigin } = await localOnlyContext(browser, base));
  page = await context.newPage();
  await signInThroughTheForm(page);
}, 120_000);

afterAll(async () => {
  await browser?.close();
});

describe("operator console in Chromium", () => {
  it("signs in with the admin token and shows the connection healthy", async () => {
    const cookies = await context.cookies(base);
    const session = cookies.find((c) => c.name === "__Host-acme_bridge_console");
    // Chromium keeps a Secure cookie from http://127.0.0.1: loopback counts as a secure context.
    expect(session).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict", path: "/" });
    expect(session?.expires).toBeGreaterThan(Date.now() / 1000);

    await page.goto(`${base}/console/connections`);
    const row = page.locator(`tr[data-connection-id="${demo.connectionId}"]`);
    await expect(row.locator(".badge").textContent()).resolves.toBe("healthy");
    await expect(row.textContent()).resolves.toContain("configured");
    await screenshot(page, "connections");
    const html = await page.content();
    expect(html).not.toContain(admin);
    expect(html).not.toContain(demo.apiKey);
    expect(html).not.toContain(demo.acmeClientSecret);

    await page.locator(`a[href="/console/connections/${demo.connectionId}"]`).click();
    await page.getByRole("heading", { name: "Health" }).waitFor();
    await screenshot(page, "connection");
    expect(offOrigin).toEqual([]);
  });

  it("shows a contact created through the API on the feed page without a reload", async () => {
    await page.goto(`${base}/console/connections/${demo.connectionId}/feed`);
    await page.locator("#feed-poller").waitFor({ state: "attached" });
    // A marker on the window: a reload would lose it.
    await page.evaluate("window.notReloaded = true");
    const email = `live-${crypto.randomUUID()}@example.com`;
    const created = await fetch(`${base}/api/v1/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${demo.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ firstName: "Live", lastName: "Feed", email }),
    });
    expect(created.status).toBe(201);
    const contact = (await created.json()) as { id: string };
    const item = page.locator(`li.change[data-contact-id="${contact.id}"]`);
    await item.waitFor({ timeout: 20_000 });
    await expect(item.textContent()).resolves.toContain(email);
    await expect(item.locator("table.diff").textContent()).resolves.toContain("email");
    await expect(page.locator("#feed-empty").isVisible()).resolves.toBe(false);
    await expect(page.evaluate("window.notReloaded")).resolves.toBe(true);
    await screenshot(page, "feed");
    expect(offOrigin).toEqual([]);
  });

  it("charts the connection's last hour, a point a minute, drawn in the page", async () => {
    // Writes through the integration: each one's call to Acme carries the request tallies before it.
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${base}/api/v1/contacts`, {
        method: "POST",
        headers: { authorization: `Bearer ${demo.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          firstName: "Chart",
          lastName: `P${i}`,
          email: `chart-${crypto.randomUUID()}@example.com`,
        }),
      });
      expect(res.status).toBe(201);
    }
    const scriptErrors: string[] = [];
    page.on("pageerror", (error) => scriptErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") scriptErrors.push(message.text());
    });
    const requests = await eventually(async () => {
      await page.goto(`${base}/console/connections/${demo.connectionId}/charts`);
      const text = await page.locator('[data-total="requests"]').textContent();
      return Number(text) >= 2 ? Number(text) : undefined;
    });
    expect(requests).toBeGreaterThanOrEqual(2);
    expect(Number(await page.locator('[data-total="acmeCalls"]').textContent())).toBeGreaterThanOrEqual(3);
    for (const chart of ["traffic", "setbacks", "cache", "latency"]) {
      const target = page.locator(`#chart-${chart}`);
      await target.locator("canvas").waitFor();
      await expect(target.getAttribute("data-drawn")).resolves.toBe("60");
      const box = await target.locator("canvas").boundingBox();
      expect(box?.width).toBeGreaterThan(200);
    }
    await expect(page.locator("#chart-traffic .u-legend").textContent()).resolves.toContain("Calls to Acme");
    await expect(page.locator("#chart-traffic .u-legend").textContent()).resolves.toContain("Time (UTC)");
    await screenshot(page, "charts");
    expect(scriptErrors).toEqual([]);
    expect(offOrigin).toEqual([]);
    page.removeAllListeners("pageerror");
    page.removeAllListeners("console");
  });

  it("labels the charts' time axis in 24-hour UTC, whatever the browser's time zone", async () => {
    // Fourteen hours ahead of UTC: a local time axis could not pass for the UTC minutes.
    const kiribati = await browser.newContext({ timezoneId: "Pacific/Kiritimati" });
    await kiribati.addCookies(await context.cookies(base));
    const charts = await kiribati.newPage();
    await charts.goto(`${base}/console/connections/${demo.connectionId}/charts`);
    const target = charts.locator("#chart-traffic");
    await target.locator("canvas").waitFor();
    const ticks = ((await target.getAttribute("data-x-ticks")) ?? "").split(" ");
    // The figures table's minutes are UTC ("HH:MM"); every tick on the axis is one of them.
    const minutes = await charts.locator('tr[data-minute] th[scope="row"]').allTextContents();
    expect(minutes).toHaveLength(60);
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    for (const tick of ticks) {
      expect(tick).toMatch(/^([01]\d|2[0-3]):[0-5]\d$/);
      expect(minutes).toContain(tick);
    }
    await expect(target.locator(".u-legend").textContent()).resolves.toContain("Time (UTC)");
    await kiribati.close();
  });

  it("starts an import from an uploaded CSV and watches its bar reach 100% without a reload", async () => {
    const rows = ["firstName,lastName,email"];
    for (let i = 0; i < 120; i++) rows.push(`Upload,${i},upload-${i}-${crypto.randomUUID()}@example.com`);
    rows.push("Broken,Row,not-an-email");
    await page.goto(`${base}/console/connections/${demo.connectionId}/jobs`);
    await page.getByLabel("File to import", { exact: true }).setInputFiles({
      name: "contacts.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(`${rows.join("\n")}\n`),
    });
    await page.getByRole("button", { name: "Start the import" }).click();
    await page.waitForURL(/\/jobs\/job_[a-z0-9]+\?started=1$/);
    await page.evaluate("window.notReloaded = true");
    const jobId = /\/jobs\/(job_[a-z0-9]+)/.exec(page.url())?.[1] ?? "";
    const bar = page.locator(`[data-job-progress="${jobId}"]`);
    await page.locator(`[data-job-progress="${jobId}"][data-percent="100"]`).waitFor({ timeout: 60_000 });
    await expect(bar.locator("progress").getAttribute("value")).resolves.toBe("100");
    // The failed row arrives with the progress: no reload, and "No row has failed" is gone.
    await page.locator('[data-error-row="121"]').waitFor({ timeout: 10_000 });
    await expect(page.locator('[data-error-row="121"]').textContent()).resolves.toContain("not-an-email");
    await expect(page.getByText("No row has failed.").count()).resolves.toBe(0);
    const status = page.locator("[data-job-status]");
    await expect(status.textContent()).resolves.toBe("succeeded, 1 row failed");
    // The warning colour (--warn), not success's green.
    await expect(status.evaluate((el) => getComputedStyle(el).color)).resolves.toBe("rgb(138, 83, 0)");
    await expect(page.evaluate("window.notReloaded")).resolves.toBe(true);
    await screenshot(page, "job");
    await page.getByRole("link", { name: "All jobs" }).click();
    await expect(page.locator(`tr[data-job-id="${jobId}"] [data-job-status]`).textContent()).resolves.toBe(
      "succeeded, 1 row failed",
    );
    await screenshot(page, "jobs");
    expect(offOrigin).toEqual([]);
  });

  it("shows an import in which every row failed as failed, in the failing colour, not green", async () => {
    const rows = ["firstName,lastName,email", "Bad,One,not-an-email", "Bad,Two,also-not-an-email"];
    await page.goto(`${base}/console/connections/${demo.connectionId}/jobs`);
    await page.getByLabel("File to import", { exact: true }).setInputFiles({
      name: "bad.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(`${rows.join("\n")}\n`),
    });
    await page.getByRole("button", { name: "Start the import" }).click();
    await page.waitForURL(/\/jobs\/job_[a-z0-9]+\?started=1$/);
    const jobId = /\/jobs\/(job_[a-z0-9]+)/.exec(page.url())?.[1] ?? "";
    const status = page.locator('#job-detail [data-job-status="failed"]');
    await status.waitFor({ timeout: 60_000 });
    await expect(status.textContent()).resolves.toBe("failed");
    // The failing colour (--bad), not success's green (rgb(20, 108, 46)).
    await expect(status.evaluate((el) => getComputedStyle(el).color)).resolves.toBe("rgb(179, 38, 30)");
    await expect(page.getByText("Every row failed (2 of 2); none succeeded.").count()).resolves.toBe(1);
    await page.locator('[data-error-row="2"]').waitFor();
    await screenshot(page, "job-all-failed");
    await page.getByRole("link", { name: "All jobs" }).click();
    await expect(page.locator(`tr[data-job-id="${jobId}"] [data-job-status]`).textContent()).resolves.toBe(
      "failed",
    );
    expect(offOrigin).toEqual([]);
  });

  it("never shows a connection whose credentials Acme refused as healthy, and says why", async () => {
    // Webhooks configured by hand, so only the refused credentials stand between it and healthy.
    const secret = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
    const client = await post<{ client_id: string; client_secret: string }>(
      "/acme/admin/clients",
      acmeAdmin,
      {
        name: "refused",
      },
    );
    const refused = await post<{ id: string }>("/api/v1/admin/connections", admin, {
      name: "refused credentials",
      acmeClientId: client.client_id,
      acmeClientSecret: `${client.client_secret}-wrong`,
      acmeWebhookSecret: secret,
    });
    // Its backfill asks Acme for a token, which Acme refuses (401 invalid_client).
    const badge = await eventually(async () => {
      await page.goto(`${base}/console/connections/${refused.id}`);
      const text = await page.locator("dl.facts .badge").textContent();
      const facts = (await page.locator("dl.facts").textContent()) ?? "";
      // Wait for the backfill to end too (the refused token is known first).
      return text === "healthy" || facts.includes("backfill failed") ? text : undefined;
    }, 30_000);
    expect(badge).toBe("failing");
    const health = page.locator("dl.facts dd", { has: page.locator(".badge") });
    await expect(health.textContent()).resolves.toContain("Acme refused the connection's client credentials");
    await expect(health.textContent()).resolves.toContain("The last backfill failed");
    await expect(page.locator("dl.facts .badge").evaluate((el) => getComputedStyle(el).color)).resolves.toBe(
      "rgb(179, 38, 30)",
    );
    await screenshot(page, "connection-refused");

    await page.goto(`${base}/console/connections?after=${encodeURIComponent(refused.id.slice(0, -1))}`);
    const row = page.locator(`tr[data-connection-id="${refused.id}"]`);
    await expect(row.locator(".badge").textContent()).resolves.toBe("failing");
    await expect(row.locator("p.reason").textContent()).resolves.toContain("Acme refused");
    expect(offOrigin).toEqual([]);
  });

  it("replays a dead letter from the dead-letters page", async () => {
    const secret = `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
    const connection = await post<{ id: string }>("/api/v1/admin/connections", admin, {
      name: "poison",
      acmeClientId: demo.acmeClientId,
      acmeClientSecret: demo.acmeClientSecret,
      acmeWebhookSecret: secret,
    });
    // A correctly signed webhook whose event can never apply: it goes to the dead letters at once.
    const webhookId = `msg_${crypto.randomUUID()}`;
    const body = JSON.stringify({ type: "contact.merged", timestamp: new Date().toISOString(), data: {} });
    const headers = new Webhook(secret).sign(webhookId, new Date(), body);
    const sent = await fetch(`${base}/webhooks/acme/${connection.id}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "webhook-id": webhookId,
        "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
        "webhook-signature": headers,
      },
      body,
    });
    expect(sent.status).toBe(202);
    const deadLetters = async () => {
      const res = await fetch(`${base}/api/v1/admin/dead-letters?limit=100`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      return (
        (await res.json()) as { data: { id: string; webhookId: string | null; replayedAt: string | null }[] }
      ).data.filter((d) => d.webhookId === webhookId);
    };
    const [first] = await eventually(async () =>
      (await deadLetters()).length === 1 ? deadLetters() : undefined,
    );

    await page.goto(`${base}/console/dead-letters`);
    const row = page.locator(`tr[data-dead-letter-id="${first?.id}"]`);
    await expect(row.textContent()).resolves.toContain("not yet");
    await row.getByRole("button", { name: `Replay dead letter ${first?.id}` }).click();
    await page.waitForURL(/replayed=/);
    await expect(page.getByRole("status").textContent()).resolves.toContain("queued again");
    await expect(page.locator(`tr[data-dead-letter-id="${first?.id}"] time`).count()).resolves.toBe(2);
    await screenshot(page, "dead-letters");
    // The message went back through the inbox, which refused it again: a second dead letter.
    const after = await eventually(async () => {
      const rows = await deadLetters();
      return rows.length === 2 ? rows : undefined;
    });
    expect(after.find((d) => d.id === first?.id)?.replayedAt).toMatch(/^\d{4}-/);
    expect(offOrigin).toEqual([]);
  });

  it("shows Acme's delivery log of the connection's subscription and retries a delivery", async () => {
    await page.goto(`${base}/console/connections/${demo.connectionId}/webhooks`);
    await page
      .getByRole("link", { name: /^Delivery log of / })
      .first()
      .click();
    const delivered = page.locator("tr[data-delivery-id]").first();
    await delivered.waitFor();
    const deliveryId = await delivered.getAttribute("data-delivery-id");
    await delivered.getByRole("button", { name: `Retry delivery ${deliveryId}` }).click();
    await page.waitForURL(/retried=/);
    await expect(page.getByRole("status").textContent()).resolves.toContain(`Delivery ${deliveryId} queued`);
    await screenshot(page, "webhook-deliveries");
    expect(offOrigin).toEqual([]);
  });

  it("issues an API key shown once that works, and revokes it", async () => {
    await page.goto(`${base}/console/connections/${demo.connectionId}`);
    await page.getByRole("button", { name: "Issue an API key" }).click();
    const key = (await page.locator("#issued-key").textContent()) ?? "";
    expect(key).toMatch(/^ab_/);
    const use = () =>
      fetch(`${base}/api/v1/contacts?limit=1`, { headers: { authorization: `Bearer ${key}` } });
    expect((await use()).status).toBe(200);
    await page.goto(`${base}/console/connections/${demo.connectionId}`);
    expect(await page.content()).not.toContain(key);
    await page.getByRole("button", { name: `Revoke key ${key.slice(0, 9)}…` }).click();
    await page.waitForURL(/revoked=/);
    expect((await use()).status).toBe(401);
  });

  it("narrows the connections, jobs, change feed and API keys through their filter forms", async () => {
    await page.goto(`${base}/console/connections`);
    await page.getByLabel("Name or id contains").fill(demo.connectionId);
    await page.getByRole("button", { name: "Filter", exact: true }).click();
    await page.waitForURL(/\/console\/connections\?q=conn_/);
    await expect(page.locator("tr[data-connection-id]").count()).resolves.toBe(1);
    await expect(page.locator(`tr[data-connection-id="${demo.connectionId}"]`).count()).resolves.toBe(1);
    await page.getByRole("link", { name: "Clear filters" }).click();
    await page.waitForURL(`${base}/console/connections`);
    await expect(page.locator("tr[data-connection-id]").count()).resolves.toBeGreaterThan(1);

    const jobs = `${base}/console/connections/${demo.connectionId}/jobs`;
    await page.goto(jobs);
    await page.getByLabel("Status", { exact: true }).selectOption("succeeded");
    await page.getByRole("button", { name: "Filter", exact: true }).click();
    await page.waitForURL(/\/jobs\?kind=&status=succeeded$/);
    // The badge's text may add "N rows failed"; its data-job-status is the job's status as it is.
    const statuses = await page
      .locator("tr[data-job-id] [data-job-status]")
      .evaluateAll((badges) => badges.map((badge) => badge.getAttribute("data-job-status")));
    expect(statuses.length).toBeGreaterThan(0);
    expect(new Set(statuses)).toEqual(new Set(["succeeded"]));
    await page.getByLabel("Kind", { exact: true }).selectOption("reconcile");
    await page.getByRole("button", { name: "Filter", exact: true }).click();
    await page.waitForURL(/\/jobs\?kind=reconcile&status=succeeded$/);
    await expect(page.getByText("No job matches the filter.").isVisible()).resolves.toBe(true);

    const email = `filter-${crypto.randomUUID()}@example.com`;
    const created = await fetch(`${base}/api/v1/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${demo.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ firstName: "Filter", lastName: "Me", email }),
    });
    expect(created.status).toBe(201);
    const contact = (await created.json()) as { id: string };
    await page.goto(`${base}/console/connections/${demo.connectionId}/feed`);
    await page.locator(`li.change[data-contact-id="${contact.id}"]`).waitFor({ timeout: 20_000 });
    await expect(page.locator("li.change").count()).resolves.toBeGreaterThan(1);
    await page.getByLabel("Contact id or email contains").fill(email);
    await page.getByRole("button", { name: "Filter", exact: true }).click();
    await page.waitForURL(/\/feed\?contact=/);
    const contacts = await page
      .locator("li.change")
      .evaluateAll((items) => items.map((item) => item.getAttribute("data-contact-id")));
    expect(contacts).toEqual([contact.id]);

    await page.goto(`${base}/console/connections/${demo.connectionId}`);
    await page.getByRole("button", { name: "Issue an API key" }).click();
    await page.goto(`${base}/console/connections/${demo.connectionId}`);
    const active = await page.locator("tr[data-key-id]").count();
    await page.getByLabel("State", { exact: true }).selectOption("revoked");
    await page.getByRole("button", { name: "Filter", exact: true }).click();
    await page.waitForURL(/\?keys=&keyState=revoked$/);
    await expect(page.getByRole("button", { name: /^Revoke key/ }).count()).resolves.toBe(0);
    await page.getByLabel("State", { exact: true }).selectOption("active");
    await page.getByRole("button", { name: "Filter", exact: true }).click();
    await page.waitForURL(/\?keys=&keyState=active$/);
    const shown = await page.locator("tr[data-key-id]").count();
    expect(shown).toBeGreaterThan(0);
    expect(shown).toBeLessThanOrEqual(active);
    await expect(page.getByRole("button", { name: /^Revoke key/ }).count()).resolves.toBe(shown);
    expect(offOrigin).toEqual([]);
  });

  it("pushes a connection's changes to a destination added in the page: secret once, log, disable, enable, rotate, recover", async () => {
    // The receiver's first answer is 503 with an hour's Retry-After: that change stays undelivered
    // until the page sends it again. Every later request is 200.
    const receiver = await startWebhookReceiver((n) =>
      n === 1 ? { status: 503, headers: { "retry-after": "3600" }, body: "busy" } : { status: 200 },
    );
    try {
      const connection = await newConnection();
      await post(`/api/v1/admin/connections/${connection.connectionId}/webhook-subscription`, admin, {});
      const list = `${base}/console/connections/${connection.connectionId}/destinations`;
      await page.goto(`${base}/console/connections/${connection.connectionId}`);
      await page.getByRole("link", { name: "Destinations", exact: true }).click();
      await page.waitForURL(list);

      // A URL the policy refuses is answered beside its field, with what was typed kept.
      await page.getByLabel("URL", { exact: true }).fill("https://10.0.0.7/hooks");
      await page.getByLabel("Description (optional)").fill("e2e receiver");
      await page.getByRole("button", { name: "Add destination" }).click();
      await expect(page.locator("#url-error").textContent()).resolves.toBe(
        "The destination URL is not allowed: must not target a private, loopback or link-local address",
      );
      await expect(page.getByLabel("Description (optional)").inputValue()).resolves.toBe("e2e receiver");

      await page.getByLabel("URL", { exact: true }).fill(receiver.url);
      await expect(page.getByLabel("All contact changes (contact.*)").isChecked()).resolves.toBe(true);
      await page.getByRole("button", { name: "Add destination" }).click();
      const secret = (await page.locator("#destination-secret").textContent()) ?? "";
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      const row = page.locator("tr[data-destination-id]");
      await expect(row.textContent()).resolves.toContain(receiver.url);
      await screenshot(page, "destination-added");
      await page.getByRole("link", { name: "its delivery log" }).click();
      await page.waitForURL(/\/destinations\/dst_[a-z0-9]+$/);
      const detail = page.url();
      destinationPages.push(new URL(list).pathname, new URL(detail).pathname);
      expect(await page.content()).not.toContain(secret);

      // A contact created through the API reaches the receiver, and its attempt shows in the open
      // page's log without a reload.
      await page.evaluate("window.notReloaded = true");
      const since = new Date(Date.now() - 60_000).toISOString().slice(0, 16);
      const created = await fetch(`${base}/api/v1/contacts`, {
        method: "POST",
        headers: { authorization: `Bearer ${connection.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({
          firstName: "Pushed",
          lastName: "Out",
          email: `pushed-${crypto.randomUUID()}@example.com`,
        }),
      });
      expect(created.status).toBe(201);
      const contact = (await created.json()) as { id: string };
      const first = await eventually(async () => receiver.received[0], 30_000);
      const payload = new Webhook(secret).verify(first.body, first.headers) as {
        type: string;
        data: { contact: { id: string } };
      };
      expect(payload).toMatchObject({ type: "contact.created", data: { contact: { id: contact.id } } });
      const attempt = page.locator('tr[data-attempt-id][data-status="pending"]');
      await attempt.waitFor({ timeout: 10_000 });
      await expect(attempt.textContent()).resolves.toContain("503");
      await expect(page.evaluate("window.notReloaded")).resolves.toBe(true);
      const deliveryId = (await attempt.getAttribute("data-delivery-id")) ?? "";
      await expect(page.getByRole("button", { name: `Retry delivery ${deliveryId}` }).count()).resolves.toBe(
        0,
      );

      // Disabled: the pending delivery ends as failed, and Retry appears.
      await page.getByRole("button", { name: "Disable this destination" }).click();
      await page.waitForURL(/done=disabled/);
      await expect(page.locator("dl.facts [data-destination-status]").textContent()).resolves.toBe(
        "disabled",
      );
      await page.getByRole("button", { name: `Retry delivery ${deliveryId}` }).waitFor();
      await page.getByRole("button", { name: "Enable this destination" }).click();
      await page.waitForURL(/done=enabled/);
      await expect(page.locator("dl.facts [data-destination-status]").textContent()).resolves.toBe("enabled");

      // A new secret, shown once; the old one goes on signing beside it.
      await page.getByRole("button", { name: "Rotate the signing secret" }).click();
      const rotated = (await page.locator("#destination-secret").textContent()) ?? "";
      expect(rotated).toMatch(/^whsec_/);
      expect(rotated).not.toBe(secret);
      await expect(page.getByText("The old secret keeps signing for 24 hours").count()).resolves.toBe(1);

      // Sent again since a time (UTC): the receiver gets the same change again, signed with both secrets.
      await page.getByLabel("Send again everything not delivered since (UTC)").fill(since);
      await page.getByRole("button", { name: "Send again since then" }).click();
      await page.waitForURL(/recovered=1$/);
      await expect(page.getByRole("status").textContent()).resolves.toBe(
        "1 delivery is being sent again now.",
      );
      const again = await eventually(async () => receiver.received[1], 20_000);
      expect(again.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
      expect(again.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
      for (const key of [rotated, secret]) {
        expect(new Webhook(key).verify(again.body, again.headers)).toMatchObject({
          data: { contact: { id: contact.id } },
        });
      }
      await page
        .locator(`tr[data-delivery-id="${deliveryId}"][data-status="succeeded"]`)
        .waitFor({ timeout: 10_000 });
      await screenshot(page, "destination");
      expect(offOrigin).toEqual([]);
    } finally {
      await receiver.close();
    }
  }, 120_000);

  it("maps a custom field in the custom-fields page, refusing a bad name on its row, and the API applies it at once", async () => {
    const token = await acmeToken(demo);
    const defined = await fetch(`${base}/acme/v1/properties`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        name: "contract_tier",
        label: "Contract tier",
        type: "enumeration",
        options: ["silver", "gold"],
      }),
    });
    expect(defined.status).toBe(201);
    await page.goto(`${base}/console/connections/${demo.connectionId}/custom-fields`);
    const field = page.getByLabel("Custom field for contract_tier");
    await field.fill("Tier");
    await page.getByRole("button", { name: "Save the mapping" }).click();
    await page.locator("#field\\.contract_tier-error").waitFor();
    await expect(page.getByRole("alert").first().textContent()).resolves.toContain("not saved");
    await page.getByLabel("Custom field for contract_tier").fill("tier");
    await page.getByRole("button", { name: "Save the mapping" }).click();
    await page.waitForURL(/saved=1/);
    await expect(page.getByRole("status").first().textContent()).resolves.toContain("Mapping saved");
    await expect(page.locator("#contact-schema").textContent()).resolves.toContain('"tier"');
    await screenshot(page, "custom-fields");
    const mapping = await fetch(`${base}/api/v1/field-mappings`, {
      headers: { authorization: `Bearer ${demo.apiKey}` },
    });
    expect(await mapping.json()).toEqual({ customFields: { tier: { remote: "contract_tier" } } });
    expect(offOrigin).toEqual([]);
  });

  it("reads on a phone's width without sideways scrolling, and works from the keyboard", async () => {
    const phone = await localOnlyContext(browser, base, { viewport: { width: 390, height: 844 } });
    const small = await phone.context.newPage();
    await signInThroughTheForm(small, "/console/connections");
    const overflow = await small.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(small, "connections-phone");
    // Long values that do not break by themselves: the feed shows them in its diff table.
    const long = await fetch(`${base}/api/v1/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${demo.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({
        firstName: "Long",
        lastName: "Values",
        email: `a-rather-long-address-that-does-not-break-${crypto.randomUUID()}@example.com`,
        company: "x".repeat(90),
      }),
    });
    expect(long.status).toBe(201);
    const contact = (await long.json()) as { id: string };
    const connection = `/console/connections/${demo.connectionId}`;
    await small.goto(`${base}${connection}/jobs`);
    const jobHref = await small.locator("tr[data-job-id] a").first().getAttribute("href");
    for (const path of [
      connection,
      `${connection}/charts`,
      `${connection}/jobs`,
      jobHref ?? `${connection}/jobs`,
      `${connection}/feed`,
      `${connection}/destinations`,
      `${connection}/custom-fields`,
      ...destinationPages,
      `${connection}/webhooks`,
      "/console/dead-letters",
    ]) {
      await small.goto(`${base}${path}`);
      if (path.endsWith("/feed")) {
        await small.locator(`li.change[data-contact-id="${contact.id}"]`).waitFor({ timeout: 20_000 });
      }
      await small.waitForLoadState("networkidle");
      const width = await small.evaluate<number>("document.documentElement.scrollWidth");
      expect(width, path).toBeLessThanOrEqual(390);
    }
    await screenshot(small, "feed-phone");
    await small.goto(`${base}/console/connections`);
    await small.keyboard.press("Tab");
    await expect(small.evaluate("document.activeElement?.textContent?.trim()")).resolves.toBe(
      "Skip to content",
    );
    await small.keyboard.press("Enter");
    expect(small.url()).toMatch(/#main$/);
    expect(phone.offOrigin).toEqual([]);
    await phone.context.close();
  });

  it("refuses a form posted from another site", async () => {
    const before = await fetch(`${base}/api/v1/admin/connections`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    const count = ((await before.json()) as { data: unknown[] }).data.length;
    const attacker = await context.newPage();
    // A page of another origin (about:blank's opaque origin) posting to the console in the same browser.
    await attacker.setContent(
      `<form method="post" action="${base}/console/connections"><input name="name" value="evil"><input name="acmeClientId" value="x"><input name="acmeClientSecret" value="y"></form>`,
    );
    await Promise.all([attacker.waitForNavigation(), attacker.evaluate("document.forms[0].submit()")]);
    expect(attacker.url()).not.toMatch(/\/console\/connections\/conn_/);
    const after = await fetch(`${base}/api/v1/admin/connections`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(((await after.json()) as { data: unknown[] }).data.length).toBe(count);
    await attacker.close();
  });

  it("signs out, after which the console sends the browser to sign in", async () => {
    await page.goto(`${base}/console/connections`);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/console\/sign-in\?signedOut=1/);
    await page.goto(`${base}/console/dead-letters`);
    await page.waitForURL(/\/console\/sign-in\?next=/);
    await screenshot(page, "sign-in");
  });
});

describe("API docs in Chromium", () => {
  it("shows the operations with no request leaving the machine", async () => {
    const docs = await localOnlyContext(browser, base);
    const docsPage = await docs.context.newPage();
    await docsPage.goto(`${base}/docs`);
    await docsPage.getByText("Create a contact").first().waitFor({ timeout: 30_000 });
    await docsPage.getByText("List contacts").first().waitFor();
    await docsPage.waitForLoadState("networkidle");
    await screenshot(docsPage, "docs", false);
    expect(docs.offOrigin).toEqual([]);
    await docs.context.close();
  });

  it("offers no button that needs Scalar's cloud, and lists the seed-compatible contact paths apart", async () => {
    const docs = await localOnlyContext(browser, base);
    const docsPage = await docs.context.newPage();
    await docsPage.goto(`${base}/docs`);
    await docsPage.getByText("Create a contact").first().waitFor({ timeout: 30_000 });
    await docsPage.waitForLoadState("networkidle");
    const controls = await docsPage
      .locator("button, a")
      .evaluateAll((items) => items.map((item) => (item.textContent ?? "").replace(/\s+/g, " ").trim()));
    for (const cloudOnly of [
      "Ask AI",
      "Developer Tools",
      "Configure",
      "Share",
      "Deploy",
      "Generate SDK",
      "Generate SDKs & MCP",
      "Open API Client",
    ]) {
      expect(controls, cloudOnly).not.toContain(cloudOnly);
    }
    // Each contact operation once in the Contacts group: the seed's paths are a group of their own.
    const sidebar = docsPage.locator("aside, nav").filter({ hasText: "Introduction" }).first();
    await expect(
      sidebar.getByText("Contacts (seed-compatible paths)", { exact: true }).count(),
    ).resolves.toBe(1);
    await expect(
      sidebar.getByText("List contacts", { exact: true }).filter({ visible: true }).count(),
    ).resolves.toBe(1);
    const document = (await (await fetch(`${base}/api/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { tags?: string[] }>>;
    };
    for (const [path, operations] of Object.entries(document.paths)) {
      if (!path.startsWith("/api/contacts") && !path.startsWith("/api/v1/contacts")) continue;
      const tag = path.startsWith("/api/v1/") ? "Contacts" : "Contacts (seed-compatible paths)";
      for (const operation of Object.values(operations)) expect(operation.tags, path).toEqual([tag]);
    }
    expect(docs.offOrigin).toEqual([]);
    await docs.context.close();
  });

  it("renders under its Content-Security-Policy with no violation, and static files carry nosniff", async () => {
    const docs = await localOnlyContext(browser, base);
    const docsPage = await docs.context.newPage();
    const violations: string[] = [];
    docsPage.on("console", (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    // Runs in the page (a script, as this file is compiled without the DOM library).
    await docsPage.addInitScript(
      "document.addEventListener('securitypolicyviolation', (event) => " +
        "console.error('Refused to: ' + event.violatedDirective + ' ' + event.blockedURI));",
    );
    const response = await docsPage.goto(`${base}/docs`);
    expect(response?.headers()["content-security-policy"]).toContain("frame-ancestors 'none'");
    await docsPage.getByText("Create a contact").first().waitFor({ timeout: 30_000 });
    await docsPage.waitForLoadState("networkidle");
    expect(violations).toEqual([]);
    await docs.context.close();

    for (const path of ["/assets/console.css", "/assets/vendor/scalar-api-reference.js"]) {
      const asset = await fetch(`${base}${path}`);
      expect(asset.status).toBe(200);
      expect(asset.headers.get("x-content-type-options")).toBe("nosniff");
      await asset.body?.cancel();
    }
    expect((await fetch(`${base}/_headers`)).status).toBe(404);
  });
});
