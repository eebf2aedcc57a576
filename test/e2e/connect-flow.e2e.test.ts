import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approveAuthorization, registerApp } from "../acme/oauth-helpers.ts";
import { launchChromium, screenshot } from "./browser.ts";
import { eventually, sleep } from "./helpers.ts";
import { type OwnServer, ownServer } from "./own-server.ts";
import { startWebhookReceiver, type WebhookReceiver } from "./webhook-receiver.ts";

// The hosted connect flow in a real Chromium against its own wrangler dev (local dev settings:
// loopback redirect URLs allowed), with connect links that live 20 s so one can expire within the
// file: connect session, our page, Acme's consent page, sign-in and approval, the callback, and
// the product's own redirect URL (a local receiver); then the ways it must fail.

const TTL_SECONDS = 20;
const PASSWORD = "correct horse battery staple";

let server: OwnServer;
let receiver: WebhookReceiver;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** The Acme account whose user connects, with one contact already there. */
let account: { clientId: string; email: string; contactId: string };
/** A session made first and opened last, after it expired. */
let early: { url: string; expiresAt: string };
/** Every request the browser sent off the two local origins (none expected). */
const offOrigin: string[] = [];
/** The callback URLs the browser went to, in order. */
const callbacks: string[] = [];

async function json<T>(
  path: string,
  token: string,
  init: { method?: string; body?: unknown } = {},
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

async function connectSession(endUserId: string): Promise<{ url: string; expiresAt: string }> {
  const res = await json<{ url: string; expiresAt: string }>("/api/v1/admin/connect-sessions", server.admin, {
    body: { endUserId, redirectUrl: `${receiver.url.replace(/\/hooks$/, "")}/done?from=test` },
  });
  expect(res.status).toBe(201);
  return res.body;
}

async function connectionsOf(endUserId: string): Promise<{ id: string; method: string; status: string }[]> {
  const res = await json<{ data: { id: string; method: string; status: string }[] }>(
    `/api/v1/admin/connections?endUserId=${encodeURIComponent(endUserId)}`,
    server.admin,
  );
  expect(res.status).toBe(200);
  return res.body.data;
}

/** Opens a session's page, goes on to Acme, signs in and decides; resolves once the browser left Acme. */
async function throughAcme(url: string, decision: "approve" | "deny"): Promise<void> {
  await page.goto(url);
  await page.getByRole("link", { name: "Continue to Acme" }).click();
  await page.waitForURL(/\/acme\/oauth\/authorize/);
  await page.getByLabel("Email").fill(account.email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.locator(`button[value=${decision}]`).click();
  await page.waitForURL(
    (u) => !u.pathname.startsWith("/acme/") && !u.pathname.startsWith("/connect/callback"),
  );
}

function receiverUrl(): URL {
  return new URL(page.url());
}

beforeAll(async () => {
  server = await ownServer("connect-flow", { CONNECT_SESSION_TTL_SECONDS: String(TTL_SECONDS) });
  receiver = await startWebhookReceiver();
  const acmeBase = `${server.url}/acme`;
  // The product's app, as npm start's seed registers it (.dev.vars credentials, this origin's callback).
  await registerApp(
    fetch,
    {
      client_id: server.secrets.ACME_OAUTH_CLIENT_ID ?? "acme-bridge",
      client_secret: server.secrets.ACME_OAUTH_CLIENT_SECRET ?? "",
      redirectUris: [`${server.url}/connect/callback`],
    },
    { base: acmeBase, adminToken: server.acmeAdmin },
  );
  const client = await fetch(`${acmeBase}/admin/clients`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.acmeAdmin}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "connect flow account" }),
  });
  const { client_id, client_secret } = (await client.json()) as { client_id: string; client_secret: string };
  const email = `owner-${client_id.slice(-8).toLowerCase()}@example.com`;
  const user = await fetch(`${acmeBase}/admin/clients/${client_id}/users`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.acmeAdmin}`, "content-type": "application/json" },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  expect(user.status).toBe(201);
  const token = await fetch(`${acmeBase}/oauth/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${btoa(`${client_id}:${client_secret}`)}`,
    },
    body: "grant_type=client_credentials",
  });
  const { access_token } = (await token.json()) as { access_token: string };
  const contact = await fetch(`${acmeBase}/v1/contacts`, {
    method: "POST",
    headers: { authorization: `Bearer ${access_token}`, "content-type": "application/json" },
    body: JSON.stringify({
      acme_first_name: "Grace",
      acme_last_name: "Hopper",
      acme_email: `grace-${client_id.slice(-6)}@example.com`,
    }),
  });
  expect(contact.status).toBe(201);
  account = { clientId: client_id, email, contactId: ((await contact.json()) as { id: string }).id };
  early = await connectSession("early-user");

  browser = await launchChromium();
  context = await browser.newContext();
  const allowed = [new URL(server.url).origin, new URL(receiver.url).origin];
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (allowed.includes(new URL(url).origin)) return route.continue();
    offOrigin.push(url);
    return route.abort("blockedbyclient");
  });
  page = await context.newPage();
  page.on("request", (request) => {
    if (request.isNavigationRequest() && request.url().includes("/connect/callback"))
      callbacks.push(request.url());
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await receiver?.close();
  await server?.stop();
});

describe("the hosted connect flow in Chromium", () => {
  it("connect link, our page, Acme's consent, approval, callback, the product's redirect with the connection, data backfilled", async () => {
    const session = await connectSession("user-approve");
    await page.goto(session.url);
    expect(await page.textContent("body")).toContain("Connect your Acme account");
    await screenshot(page, "connect-start");
    await throughAcme(session.url, "approve");
    const landed = receiverUrl();
    expect(landed.origin).toBe(new URL(receiver.url).origin);
    expect(landed.pathname).toBe("/done");
    expect(landed.searchParams.get("from")).toBe("test");
    const connectionId = landed.searchParams.get("connectionId");
    expect(connectionId).toMatch(/^conn_/);
    expect(await connectionsOf("user-approve")).toMatchObject([
      { id: connectionId, method: "oauth", status: "active" },
    ]);

    const key = await json<{ apiKey: string }>(
      `/api/v1/admin/connections/${connectionId}/api-keys`,
      server.admin,
      { body: {} },
    );
    const apiKey = key.body.apiKey;
    const read = await json<{ id: string }>(`/api/v1/contacts/${account.contactId}`, apiKey);
    expect(read.status).toBe(200);
    // The backfill ran: the contact already at Acme is in the change feed.
    await eventually(async () => {
      const jobs = await json<{ data: { kind: string; status: string }[] }>("/api/v1/jobs?limit=10", apiKey);
      return jobs.body.data.some((j) => j.kind === "backfill" && j.status === "succeeded") ? true : undefined;
    }, 30_000);
    const feed = await json<{ data: { contactId?: string; contact?: { id: string } }[] }>(
      "/api/v1/events?after=0",
      apiKey,
    );
    expect(JSON.stringify(feed.body.data)).toContain(account.contactId);

    // The link again: used (410). The callback again (same code and state): a 400 page, no redirect.
    const again = await page.goto(session.url);
    expect(again?.status()).toBe(410);
    expect(await page.textContent("body")).toContain("already used");
    const callback = callbacks.at(-1) ?? "";
    expect(callback).toContain("code=");
    const replay = await page.goto(callback);
    expect(replay?.status()).toBe(400);
    expect(new URL(page.url()).pathname).toBe("/connect/callback");
    expect(await connectionsOf("user-approve")).toHaveLength(1);
  });

  it("a denial at Acme comes back as error=access_denied and creates nothing", async () => {
    const session = await connectSession("user-deny");
    await throughAcme(session.url, "deny");
    expect(receiverUrl().searchParams.get("error")).toBe("access_denied");
    expect(receiverUrl().searchParams.get("connectionId")).toBeNull();
    expect(await connectionsOf("user-deny")).toEqual([]);
  });

  it("a code presented with another session's verifier (PKCE mismatch) is refused: error=invalid_grant, nothing created", async () => {
    const a = await connectSession("user-pkce-a");
    const b = await connectSession("user-pkce-b");
    await page.goto(b.url);
    const stateB = new URL(
      (await page.getByRole("link", { name: "Continue to Acme" }).getAttribute("href")) ?? "",
    ).searchParams.get("state");
    // A's approval, played over HTTP so its code stops short of our callback (a browser follows
    // redirects without letting a test hold one), then sent with B's state.
    await page.goto(a.url);
    const authorizeA =
      (await page.getByRole("link", { name: "Continue to Acme" }).getAttribute("href")) ?? "";
    const location = await approveAuthorization(fetch, authorizeA, {
      email: account.email,
      password: PASSWORD,
    });
    const codeA = new URL(location).searchParams.get("code") ?? "";
    expect(codeA).not.toBe("");
    await page.goto(`${server.url}/connect/callback?code=${encodeURIComponent(codeA)}&state=${stateB}`);
    await page.waitForURL((u) => u.origin === new URL(receiver.url).origin);
    expect(receiverUrl().searchParams.get("error")).toBe("invalid_grant");
    expect(await connectionsOf("user-pkce-a")).toEqual([]);
    expect(await connectionsOf("user-pkce-b")).toEqual([]);
  });

  it("a redirect URI Acme does not know gets Acme's 400 page and no redirect", async () => {
    const session = await connectSession("user-wrong-uri");
    await page.goto(session.url);
    const authorize = new URL(
      (await page.getByRole("link", { name: "Continue to Acme" }).getAttribute("href")) ?? "",
    );
    authorize.searchParams.set("redirect_uri", `${receiver.url.replace(/\/hooks$/, "")}/evil`);
    const before = receiver.received.length;
    const res = await page.goto(authorize.toString());
    expect(res?.status()).toBe(400);
    expect(new URL(page.url()).pathname).toBe("/acme/oauth/authorize");
    expect(receiver.received.length).toBe(before);
  });

  it("an expired link is a 410 page, and nothing left the two local origins", async () => {
    const wait = Date.parse(early.expiresAt) - Date.now() + 500;
    if (wait > 0) await sleep(wait);
    const res = await page.goto(early.url);
    expect(res?.status()).toBe(410);
    expect(await page.textContent("body")).toContain("expired");
    expect(offOrigin).toEqual([]);
  });
});
