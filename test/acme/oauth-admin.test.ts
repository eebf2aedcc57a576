import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ACME, createClient, createContact, expectAcmeError, tokenFor, uniqueEmail } from "./helpers.ts";
import { createAccountUser, registerApp } from "./oauth-helpers.ts";
import {
  adminFetch,
  appAndUser,
  connect,
  fetchSelf,
  listContacts,
  PASSWORD,
  REDIRECT_URI,
  refresh,
  tokenLog,
  tokenRequest,
} from "./oauth-support.ts";

function json(body: unknown): RequestInit {
  return { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}

function revoke(app: { client_id: string; client_secret: string }, form: Record<string, string>) {
  return SELF.fetch(`${ACME}/oauth/revoke`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${btoa(`${app.client_id}:${app.client_secret}`)}`,
    },
    body: new URLSearchParams(form),
  });
}

describe("POST /acme/admin/apps", () => {
  it("registers an app: 201 with a secret shown once and stored as a keyed hash", async () => {
    const res = await adminFetch("/admin/apps", json({ name: "Bridge", redirectUris: [REDIRECT_URI] }));
    expect(res.status).toBe(201);
    const app = await res.json<{ client_id: string; client_secret: string }>();
    expect(app).toMatchObject({ name: "Bridge", redirectUris: [REDIRECT_URI] });
    expect(app.client_id).toMatch(/^app_/);
    const row = await env.ACME_DB.prepare("SELECT * FROM oauth_apps WHERE client_id = ?")
      .bind(app.client_id)
      .first();
    expect(JSON.stringify(row)).not.toContain(app.client_secret);
  });

  it("takes a chosen client_id and client_secret (for seeding), and refuses the id again or a client's id (409)", async () => {
    const clientId = `seed_${crypto.randomUUID().slice(0, 8)}`;
    const secret = "s".repeat(40);
    const app = await registerApp(fetchSelf, {
      redirectUris: ["http://127.0.0.1:8787/connect/callback"],
      client_id: clientId,
      client_secret: secret,
    });
    expect(app).toMatchObject({ client_id: clientId, client_secret: secret });
    const again = await adminFetch(
      "/admin/apps",
      json({ name: "x", redirectUris: [REDIRECT_URI], client_id: clientId }),
    );
    await expectAcmeError(again, 409, "conflict");
    const client = await createClient();
    const clash = await adminFetch(
      "/admin/apps",
      json({ name: "x", redirectUris: [REDIRECT_URI], client_id: client.clientId }),
    );
    await expectAcmeError(clash, 409, "conflict");
    // And the other way round: a client may not take an app's id.
    const clientClash = await adminFetch("/admin/clients", json({ name: "x", client_id: clientId }));
    await expectAcmeError(clientClash, 409, "conflict");
  });

  it.each([
    ["plain http to a public host", ["http://app.example.com/cb"]],
    ["a relative URI", ["/cb"]],
    ["a fragment", ["https://app.example.com/cb#x"]],
    ["userinfo", ["https://user@app.example.com/cb"]],
    ["another scheme", ["javascript://app.example.com/%0aalert(1)"]],
    ["none", []],
    ["eleven", Array.from({ length: 11 }, (_, i) => `https://app.example.com/cb${i}`)],
  ])("refuses redirect URIs with %s (400, nothing stored)", async (_, redirectUris) => {
    const clientId = `bad_${crypto.randomUUID().slice(0, 8)}`;
    const res = await adminFetch("/admin/apps", json({ name: "x", redirectUris, client_id: clientId }));
    await expectAcmeError(res, 400, "validation_failed");
    const row = await env.ACME_DB.prepare("SELECT 1 FROM oauth_apps WHERE client_id = ?")
      .bind(clientId)
      .first();
    expect(row).toBeNull();
  });

  it("allows http to loopback hosts", async () => {
    const app = await registerApp(fetchSelf, {
      redirectUris: ["http://127.0.0.1:54321/cb", "http://localhost/cb", "http://[::1]:8787/cb"],
    });
    expect(app.redirectUris).toHaveLength(3);
  });

  it("needs the admin token", async () => {
    const res = await SELF.fetch(`${ACME}/admin/apps`, json({ name: "x", redirectUris: [REDIRECT_URI] }));
    await expectAcmeError(res, 401, "unauthorized");
  });
});

describe("PATCH /acme/admin/apps/{clientId}", () => {
  it("replaces the redirect URIs: the old one stops being accepted", async () => {
    const { app } = await appAndUser();
    const moved = "http://127.0.0.1:9999/connect/callback";
    const res = await adminFetch(`/admin/apps/${app.client_id}`, {
      method: "PATCH",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ redirectUris: [moved] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ client_id: app.client_id, name: app.name, redirectUris: [moved] });
    const old = await SELF.fetch(
      `${ACME}/oauth/authorize?response_type=code&client_id=${app.client_id}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`,
      { redirect: "manual" },
    );
    expect(old.status).toBe(400);
    await old.body?.cancel();
  });

  it("404 for an unknown app, 400 for a bad URI", async () => {
    const patch = (id: string, body: unknown) =>
      adminFetch(`/admin/apps/${id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    await expectAcmeError(await patch("app_nobody", { name: "x" }), 404, "not_found");
    const { app } = await appAndUser();
    await expectAcmeError(
      await patch(app.client_id, { redirectUris: ["ftp://x/"] }),
      400,
      "validation_failed",
    );
  });
});

describe("POST /acme/admin/clients/{clientId}/users", () => {
  it("creates a user with a PBKDF2-SHA256 hash (100,000 iterations, 16-byte salt)", async () => {
    const account = await createClient();
    const email = uniqueEmail("hash");
    const user = await createAccountUser(fetchSelf, account.clientId, { email, password: PASSWORD });
    expect(user).toEqual({ id: expect.stringMatching(/^usr_/), email });
    const row = await env.ACME_DB.prepare("SELECT password_hash FROM account_users WHERE id = ?")
      .bind(user.id)
      .first<{ password_hash: string }>();
    const [scheme, iterations, salt, hash] = (row?.password_hash ?? "").split("$");
    expect([scheme, iterations]).toEqual(["pbkdf2-sha256", "100000"]);
    expect(salt).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(hash).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(row?.password_hash).not.toContain(PASSWORD);
  });

  it("404 for an unknown account, 409 for an email taken in any case, 400 for a short password", async () => {
    const account = await createClient();
    const email = uniqueEmail("dup");
    const create = (accountId: string, body: unknown) =>
      adminFetch(`/admin/clients/${accountId}/users`, json(body));
    await expectAcmeError(await create("cl_nobody", { email, password: PASSWORD }), 404, "not_found");
    expect((await create(account.clientId, { email, password: PASSWORD })).status).toBe(201);
    const other = await createClient();
    await expectAcmeError(
      await create(other.clientId, { email: email.toUpperCase(), password: PASSWORD }),
      409,
      "duplicate_email",
    );
    await expectAcmeError(
      await create(account.clientId, { email: uniqueEmail(), password: "short" }),
      400,
      "validation_failed",
    );
  });
});

describe("DELETE /acme/admin/apps/{clientId}/grants?account=", () => {
  it("revokes the account's grants for the app: its tokens stop working; other accounts' stay", async () => {
    const connected = await appAndUser();
    const tokens = await connect(connected);
    const other = await createClient();
    const otherEmail = uniqueEmail("other");
    await createAccountUser(fetchSelf, other.clientId, { email: otherEmail, password: PASSWORD });
    const otherTokens = await connect({ app: connected.app, accountId: other.clientId, email: otherEmail });

    const res = await adminFetch(
      `/admin/apps/${connected.app.client_id}/grants?account=${connected.accountId}`,
      {
        method: "DELETE",
      },
    );
    expect(res.status).toBe(204);
    await expectAcmeError(await listContacts(tokens.access_token), 401, "invalid_token");
    const refused = await refresh(connected.app, tokens.refresh_token);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: "invalid_grant" });

    expect((await listContacts(otherTokens.access_token)).status).toBe(200);
    expect((await refresh(connected.app, otherTokens.refresh_token)).status).toBe(200);
  });

  it("404 for an unknown app; 400 without the account", async () => {
    await expectAcmeError(
      await adminFetch("/admin/apps/app_nobody/grants?account=cl_x", { method: "DELETE" }),
      404,
      "not_found",
    );
    const { app } = await appAndUser();
    await expectAcmeError(
      await adminFetch(`/admin/apps/${app.client_id}/grants`, { method: "DELETE" }),
      400,
      "validation_failed",
    );
  });
});

describe("POST /acme/oauth/revoke (RFC 7009)", () => {
  it("revoking a refresh token ends every token of its grant", async () => {
    const connected = await appAndUser();
    const tokens = await connect(connected);
    const res = await revoke(connected.app, {
      token: tokens.refresh_token,
      token_type_hint: "refresh_token",
    });
    expect(res.status).toBe(200);
    await expectAcmeError(await listContacts(tokens.access_token), 401, "invalid_token");
    expect((await refresh(connected.app, tokens.refresh_token)).status).toBe(400);
    const log = await tokenLog(connected.app);
    expect(log[0]?.outcome).toBe("revoked");
  });

  it("revoking an access token of a grant (whatever the hint) ends the grant too", async () => {
    const connected = await appAndUser();
    const tokens = await connect(connected);
    expect(
      (await revoke(connected.app, { token: tokens.access_token, token_type_hint: "refresh_token" })).status,
    ).toBe(200);
    await expectAcmeError(await listContacts(tokens.access_token), 401, "invalid_token");
    expect((await refresh(connected.app, tokens.refresh_token)).status).toBe(400);
  });

  it("answers 200 for an unknown token, and for another app's token without touching it", async () => {
    const connected = await appAndUser();
    const tokens = await connect(connected);
    expect((await revoke(connected.app, { token: "rt_unknown" })).status).toBe(200);
    const other = await registerApp(fetchSelf, { redirectUris: [REDIRECT_URI] });
    expect((await revoke(other, { token: tokens.refresh_token })).status).toBe(200);
    expect((await listContacts(tokens.access_token)).status).toBe(200);
  });

  it("needs client authentication and a token", async () => {
    const connected = await appAndUser();
    const wrong = await revoke({ ...connected.app, client_secret: "wrong" }, { token: "x" });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: "invalid_client" });
    const missing = await revoke(connected.app, {});
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: "invalid_request" });
  });
});

describe("GET /acme/admin/apps/{clientId}/token-log", () => {
  it("lists the app's token requests newest first, limited, with the refresh token presented", async () => {
    const connected = await appAndUser();
    const tokens = await connect(connected);
    const second = await (await refresh(connected.app, tokens.refresh_token)).json<{
      refresh_token: string;
    }>();
    await refresh(connected.app, second.refresh_token);
    const log = await tokenLog(connected.app);
    expect(log.map((e) => e.grant_type)).toEqual(["refresh_token", "refresh_token", "authorization_code"]);
    expect(log.every((e) => e.outcome === "issued")).toBe(true);
    expect(new Set(log.map((e) => e.refresh_token_id)).size).toBe(3);
    expect(log[2]?.refresh_token_id).toBeNull();
    expect(Date.parse(log[0]?.at ?? "")).toBeGreaterThanOrEqual(Date.parse(log[2]?.at ?? ""));

    const limited = await adminFetch(`/admin/apps/${connected.app.client_id}/token-log?limit=1`);
    expect((await limited.json<{ data: unknown[] }>()).data).toHaveLength(1);
    await expectAcmeError(
      await adminFetch(`/admin/apps/${connected.app.client_id}/token-log?limit=1001`),
      400,
      "validation_failed",
    );
    await expectAcmeError(await adminFetch("/admin/apps/app_nobody/token-log"), 404, "not_found");
  });

  it("records nothing of another app's or a plain client's requests", async () => {
    const connected = await appAndUser();
    await tokenFor(await createClient());
    await tokenRequest(
      { client_id: "nobody", client_secret: "x" },
      { grant_type: "refresh_token", refresh_token: "x" },
    );
    expect(await tokenLog(connected.app)).toEqual([]);
  });
});

describe("access tokens of a grant", () => {
  it("work on the approving account's contacts and webhook subscriptions (webhooks.manage)", async () => {
    const connected = await appAndUser();
    const tokens = await connect(connected);
    const contact = await createContact(tokens.access_token, { acme_email: uniqueEmail("grant") });
    const row = await env.ACME_DB.prepare("SELECT account_id FROM contacts WHERE id = ?")
      .bind(contact.id)
      .first();
    expect(row).toEqual({ account_id: connected.accountId });

    const hook = await SELF.fetch(`${ACME}/v1/webhooks`, {
      method: "POST",
      headers: { authorization: `Bearer ${tokens.access_token}`, "content-type": "application/json" },
      body: JSON.stringify({ url: "https://hooks.example.com/acme", events: ["contact.created"] }),
    });
    expect(hook.status).toBe(201);
    const sub = await env.ACME_DB.prepare("SELECT account_id FROM webhook_subscriptions WHERE id = ?")
      .bind((await hook.json<{ id: string }>()).id)
      .first();
    expect(sub).toEqual({ account_id: connected.accountId });
  });

  it("without webhooks.manage, the webhook API is 403", async () => {
    const connected = await appAndUser();
    const tokens = await connect(connected);
    const narrowed = await (
      await tokenRequest(connected.app, {
        grant_type: "refresh_token",
        refresh_token: tokens.refresh_token,
        scope: "contacts.read",
      })
    ).json<{ access_token: string }>();
    const res = await SELF.fetch(`${ACME}/v1/webhooks`, {
      headers: { authorization: `Bearer ${narrowed.access_token}` },
    });
    await expectAcmeError(res, 403, "insufficient_scope");
  });

  it("count against the account's rate limits, shared by every app acting for it", async () => {
    const connected = await appAndUser();
    const limits = await adminFetch(`/admin/clients/${connected.accountId}/rate-limits`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ read: { limit: 3, windowSeconds: 60 } }),
    });
    expect(limits.status).toBe(204);
    const first = await connect(connected);
    const secondApp = await registerApp(fetchSelf, { redirectUris: [REDIRECT_URI] });
    const second = await connect({ ...connected, app: secondApp });
    expect((await listContacts(first.access_token)).status).toBe(200);
    expect((await listContacts(second.access_token)).status).toBe(200);
    expect((await listContacts(first.access_token)).status).toBe(200);
    await expectAcmeError(await listContacts(second.access_token), 429, "rate_limited");
  });
});
