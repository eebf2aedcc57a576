import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createClient, uniqueEmail } from "./helpers.ts";
import {
  approveAuthorization,
  cookiesOf,
  createAccountUser,
  hiddenFields,
  registerApp,
} from "./oauth-helpers.ts";
import { appAndUser, authorizeUrl, fetchSelf, PASSWORD, REDIRECT_URI } from "./oauth-support.ts";

const form = { "content-type": "application/x-www-form-urlencoded" };

/** GETs the page and returns what a browser would keep: the form's fields and the cookie. */
async function openPage(url: string) {
  const res = await SELF.fetch(url);
  expect(res.status).toBe(200);
  const html = await res.text();
  return { res, html, fields: hiddenFields(html), cookie: cookiesOf(res) };
}

function post(fields: Record<string, string>, cookie?: string) {
  return SELF.fetch("http://bridge.test/acme/oauth/authorize", {
    method: "POST",
    redirect: "manual",
    headers: { ...form, ...(cookie ? { cookie } : {}) },
    body: new URLSearchParams(fields),
  });
}

async function codeCount(appClientId: string): Promise<number> {
  const row = await env.ACME_DB.prepare("SELECT COUNT(*) AS n FROM oauth_codes WHERE app_client_id = ?")
    .bind(appClientId)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

/** Asserts a 4xx HTML page that sends the browser nowhere. */
async function expectPage(res: Response, status: number): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get("location")).toBeNull();
  expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  return res.text();
}

describe("GET /acme/oauth/authorize: the sign-in and consent page", () => {
  it("shows the app, the scopes, email, password, Approve and Deny, under a strict CSP and a Lax HttpOnly CSRF cookie", async () => {
    const { app } = await appAndUser();
    const { url, state } = await authorizeUrl(app, { scope: "contacts.read" });
    const { res, html, fields } = await openPage(url);
    expect(html).toContain(app.name);
    expect(html).toContain("contacts.read");
    expect(html).not.toContain("webhooks.manage");
    expect(html).toMatch(/name="email"/);
    expect(html).toMatch(/type="password"/);
    expect(html).toMatch(/value="approve"/);
    expect(html).toMatch(/value="deny"/);
    expect(fields).toMatchObject({
      client_id: app.client_id,
      redirect_uri: REDIRECT_URI,
      state,
      scope: "contacts.read",
    });
    expect(fields.csrf).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const csp = res.headers.get("content-security-policy") ?? "";
    const directives = Object.fromEntries(
      csp.split(";").map((d) => {
        const [name, ...values] = d.trim().split(/\s+/);
        return [name, values.join(" ")];
      }),
    );
    expect(directives["default-src"]).toBe("'none'");
    expect(directives["frame-ancestors"]).toBe("'none'");
    expect(directives["form-action"]).toBe("'self' https://app.example.com");
    const nonce = /^'nonce-([A-Za-z0-9_-]+)'$/.exec(directives["style-src"] ?? "")?.[1];
    expect(nonce).toBeDefined();
    expect(html).toContain(`<style nonce="${nonce}">`);
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("no-store");
    // Self-contained: no script at all, nothing loaded from anywhere.
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/\b(?:src|href)=/i);

    const cookie = res.headers.getSetCookie().find((c) => c.startsWith("__Host-acme_authorize_csrf="));
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    expect(cookie).toMatch(/Secure/i);
    expect(cookie).toMatch(/Path=\//);
  });

  it("never renders attacker-controlled text unescaped (state, app name)", async () => {
    const app = await registerApp(fetchSelf, {
      redirectUris: [REDIRECT_URI],
      name: '<img src=x onerror="alert(1)">',
    });
    const evil = `"><script>alert(document.cookie)</script><input value="`;
    const { url } = await authorizeUrl(app, { state: evil });
    const { html, fields } = await openPage(url);
    expect(html).not.toContain("<script>");
    expect(html).not.toContain("<img");
    expect(html).toContain("&lt;script&gt;");
    // The state survives as a value, exactly.
    expect(fields.state).toBe(evil);
  });

  it("omitting scope asks for every scope", async () => {
    const { app } = await appAndUser();
    const { url } = await authorizeUrl(app, { scope: null });
    const { fields } = await openPage(url);
    expect(fields.scope).toBe("contacts.read contacts.write webhooks.manage");
  });

  describe("an unknown client or a redirect URI not registered exactly: 400 page, never a redirect", () => {
    it.each([
      ["missing client_id", { client_id: null }],
      ["unknown client_id", { client_id: "app_nobody" }],
      ["missing redirect_uri", { redirect_uri: null }],
      ["another port", { redirect_uri: "https://app.example.com:8443/oauth/callback" }],
      ["a longer path (prefix match)", { redirect_uri: "https://app.example.com/oauth/callback/../../evil" }],
      ["a path sharing the prefix", { redirect_uri: "https://app.example.com/oauth/callbackx" }],
      ["a trailing slash", { redirect_uri: "https://app.example.com/oauth/callback/" }],
      [
        "an extra query",
        { redirect_uri: "https://app.example.com/oauth/callback?next=https://evil.example" },
      ],
      ["userinfo naming the host", { redirect_uri: "https://app.example.com@evil.example/oauth/callback" }],
      ["userinfo before the host", { redirect_uri: "https://evil@app.example.com/oauth/callback" }],
      ["http instead of https", { redirect_uri: "http://app.example.com/oauth/callback" }],
      ["another host", { redirect_uri: "https://evil.example/oauth/callback" }],
      ["a subdomain", { redirect_uri: "https://app.example.com.evil.example/oauth/callback" }],
      ["the host in another case", { redirect_uri: "https://APP.example.com/oauth/callback" }],
      ["a fragment", { redirect_uri: "https://app.example.com/oauth/callback#x" }],
    ])("%s", async (_, overrides) => {
      const { app } = await appAndUser();
      const { url } = await authorizeUrl(app, overrides);
      const html = await expectPage(await SELF.fetch(url, { redirect: "manual" }), 400);
      expect(html).not.toContain("evil.example");
    });

    it("a repeated redirect_uri or client_id", async () => {
      const { app } = await appAndUser();
      const { url } = await authorizeUrl(app);
      await expectPage(
        await SELF.fetch(`${url}&redirect_uri=${encodeURIComponent("https://evil.example/")}`),
        400,
      );
      await expectPage(await SELF.fetch(`${url}&client_id=${app.client_id}`), 400);
    });
  });

  describe("other errors redirect to the registered URI with error and state (RFC 6749 4.1.2.1)", () => {
    it.each([
      ["missing code_challenge", { code_challenge: null }, "invalid_request"],
      ["missing code_challenge_method", { code_challenge_method: null }, "invalid_request"],
      ["plain PKCE", { code_challenge_method: "plain" }, "invalid_request"],
      ["a malformed code_challenge", { code_challenge: "short" }, "invalid_request"],
      ["missing response_type", { response_type: null }, "invalid_request"],
      ["response_type=token", { response_type: "token" }, "unsupported_response_type"],
      ["an unknown scope", { scope: "contacts.read admin" }, "invalid_scope"],
    ])("%s: %s", async (_, overrides, error) => {
      const { app } = await appAndUser();
      const { url, state } = await authorizeUrl(app, overrides);
      const res = await SELF.fetch(url, { redirect: "manual" });
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get("location") ?? "");
      expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
      expect(location.searchParams.get("error")).toBe(error);
      expect(location.searchParams.get("state")).toBe(state);
      expect(location.searchParams.get("code")).toBeNull();
    });

    it("keeps the registered URI's own query and adds to it", async () => {
      const registered = "https://app.example.com/cb?tenant=7";
      const { app } = await appAndUser([registered]);
      const { url } = await authorizeUrl(app, { redirect_uri: registered, response_type: "token" });
      const location = new URL((await SELF.fetch(url, { redirect: "manual" })).headers.get("location") ?? "");
      expect(location.searchParams.get("tenant")).toBe("7");
      expect(location.searchParams.get("error")).toBe("unsupported_response_type");
    });
  });
});

describe("POST /acme/oauth/authorize: sign in, approve or deny", () => {
  it("approving redirects with a code and the state, bound to the user's account", async () => {
    const connected = await appAndUser();
    const { url, state } = await authorizeUrl(connected.app);
    const location = new URL(
      await approveAuthorization(fetchSelf, url, { email: connected.email, password: PASSWORD }),
    );
    expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
    expect(location.searchParams.get("state")).toBe(state);
    expect(location.searchParams.get("code")).toMatch(/^ac_[A-Za-z0-9_-]{43}$/);
    const row = await env.ACME_DB.prepare(
      "SELECT account_id, scope, redirect_uri FROM oauth_codes WHERE app_client_id = ?",
    )
      .bind(connected.app.client_id)
      .first();
    expect(row).toEqual({
      account_id: connected.accountId,
      scope: "contacts.read contacts.write webhooks.manage",
      redirect_uri: REDIRECT_URI,
    });
  });

  it("signs in with the email in another case", async () => {
    const connected = await appAndUser();
    const { url } = await authorizeUrl(connected.app);
    const location = await approveAuthorization(fetchSelf, url, {
      email: connected.email.toUpperCase(),
      password: PASSWORD,
    });
    expect(new URL(location).searchParams.get("code")).not.toBeNull();
  });

  it("denying redirects with access_denied and the state, and needs no password", async () => {
    const connected = await appAndUser();
    const { url, state } = await authorizeUrl(connected.app);
    const location = new URL(
      await approveAuthorization(fetchSelf, url, { email: "", password: "", decision: "deny" }),
    );
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("state")).toBe(state);
    expect(location.searchParams.get("code")).toBeNull();
    expect(await codeCount(connected.app.client_id)).toBe(0);
  });

  describe("CSRF", () => {
    it("refuses a form without its cookie, without the token, or with another browser's token: 403, no code", async () => {
      const connected = await appAndUser();
      const { url } = await authorizeUrl(connected.app);
      const mine = await openPage(url);
      const theirs = await openPage(url);
      const filled: Record<string, string> = {
        ...mine.fields,
        email: connected.email,
        password: PASSWORD,
        decision: "approve",
      };
      await expectPage(await post(filled), 403);
      const { csrf: _, ...withoutToken } = filled;
      await expectPage(await post(withoutToken, mine.cookie), 403);
      await expectPage(await post({ ...filled, csrf: theirs.fields.csrf ?? "" }, mine.cookie), 403);
      await expectPage(await post({ ...filled, csrf: "x".repeat(43) }, mine.cookie), 403);
      expect(await codeCount(connected.app.client_id)).toBe(0);
      // The genuine pair works.
      const res = await post(filled, mine.cookie);
      expect(res.status).toBe(302);
    });
  });

  it("a wrong password shows the page again with an error (401), escaped, and issues no code", async () => {
    const connected = await appAndUser();
    const { url } = await authorizeUrl(connected.app);
    const page = await openPage(url);
    const res = await post(
      { ...page.fields, email: connected.email, password: "wrong password", decision: "approve" },
      page.cookie,
    );
    const html = await expectPage(res, 401);
    expect(html).toContain("Wrong email or password.");
    expect(hiddenFields(html).state).toBe(page.fields.state);
    const unknown = await post(
      { ...page.fields, email: '"><script>x</script>@example.com', password: PASSWORD, decision: "approve" },
      page.cookie,
    );
    const unknownHtml = await expectPage(unknown, 401);
    expect(unknownHtml).toContain("Wrong email or password.");
    expect(unknownHtml).not.toContain("<script>x");
    expect(await codeCount(connected.app.client_id)).toBe(0);
  });

  it("limits failed sign-ins per email: after 5 wrong passwords even the right one is refused (429)", async () => {
    const connected = await appAndUser();
    const { url } = await authorizeUrl(connected.app);
    const page = await openPage(url);
    const attempt = (password: string) =>
      post({ ...page.fields, email: connected.email, password, decision: "approve" }, page.cookie);
    for (let i = 0; i < 5; i++) await expectPage(await attempt(`wrong ${i}`), 401);
    const locked = await attempt(PASSWORD);
    await expectPage(locked, 429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(await codeCount(connected.app.client_id)).toBe(0);
  });

  it("checks the request again: a redirect_uri changed in the form is a 400 page, no redirect", async () => {
    const connected = await appAndUser();
    const { url } = await authorizeUrl(connected.app);
    const page = await openPage(url);
    const res = await post(
      {
        ...page.fields,
        redirect_uri: "https://evil.example/cb",
        email: connected.email,
        password: PASSWORD,
        decision: "approve",
      },
      page.cookie,
    );
    await expectPage(res, 400);
    expect(await codeCount(connected.app.client_id)).toBe(0);
  });

  it("refuses a body that is not a form (415)", async () => {
    const res = await SELF.fetch("http://bridge.test/acme/oauth/authorize", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(415);
  });

  it("a user of another account gets a code for that account", async () => {
    const connected = await appAndUser();
    const other = await createClient();
    const email = uniqueEmail("other");
    await createAccountUser(fetchSelf, other.clientId, { email, password: PASSWORD });
    const { url } = await authorizeUrl(connected.app);
    await approveAuthorization(fetchSelf, url, { email, password: PASSWORD });
    const row = await env.ACME_DB.prepare("SELECT account_id FROM oauth_codes WHERE app_client_id = ?")
      .bind(connected.app.client_id)
      .first<{ account_id: string }>();
    expect(row?.account_id).toBe(other.clientId);
  });
});
