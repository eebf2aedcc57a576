import type { Browser, BrowserContext, Page } from "playwright-core";
import { Webhook } from "standardwebhooks";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, localOnlyContext, screenshot } from "./browser.ts";
import { admin, base, type E2eConnection, eventually, newConnection, post } from "./helpers.ts";

let browser: Browser;
let context: BrowserContext;
let offOrigin: string[];
let page: Page;
/** A connection subscribed to its Acme account's webhooks, as `npm start`'s demo connection is. */
let demo: E2eConnection;

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
    await screenshot(page, "charts");
    expect(scriptErrors).toEqual([]);
    expect(offOrigin).toEqual([]);
    page.removeAllListeners("pageerror");
    page.removeAllListeners("console");
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
    await expect(page.locator("[data-job-status]").textContent()).resolves.toBe("succeeded");
    await expect(page.evaluate("window.notReloaded")).resolves.toBe(true);
    await page.reload();
    await expect(page.locator('[data-error-row="121"]').textContent()).resolves.toContain("not-an-email");
    await screenshot(page, "job");
    await page.getByRole("link", { name: "All jobs" }).click();
    await expect(page.locator(`tr[data-job-id="${jobId}"] [data-job-status]`).textContent()).resolves.toBe(
      "succeeded",
    );
    await screenshot(page, "jobs");
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

  it("reads on a phone's width without sideways scrolling, and works from the keyboard", async () => {
    const phone = await localOnlyContext(browser, base, { viewport: { width: 390, height: 844 } });
    const small = await phone.context.newPage();
    await signInThroughTheForm(small, "/console/connections");
    const overflow = await small.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(small, "connections-phone");
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

  it("renders under its Content-Security-Policy with no violation, and static files carry nosniff", async () => {
    const docs = await localOnlyContext(browser, base);
    const docsPage = await docs.context.newPage();
    const violations: string[] = [];
    docsPage.on("console", (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    await docsPage.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (event) => {
        console.error(`Refused to: ${event.violatedDirective} ${event.blockedURI}`);
      });
    });
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
