import { env, SELF } from "cloudflare:test";
import { createLocalJWKSet, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { ACME, createClient, expectAcmeError } from "./helpers.ts";
import { registerApp } from "./oauth-helpers.ts";
import {
  appAndUser,
  authorizationCode,
  connect,
  fetchSelf,
  listContacts,
  REDIRECT_URI,
  refresh,
  tokenLog,
  tokenRequest,
} from "./oauth-support.ts";

function exchange(
  connected: Awaited<ReturnType<typeof appAndUser>>,
  code: string,
  verifier: string,
  extra = {},
) {
  return tokenRequest(connected.app, {
    grant_type: "authorization_code",
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
    ...extra,
  });
}

async function expectInvalidGrant(res: Response) {
  expect(res.status).toBe(400);
  expect(res.headers.get("cache-control")).toBe("no-store");
  const body = await res.json<{ error: string; error_description: string }>();
  expect(body.error).toBe("invalid_grant");
  expect(body.error_description.length).toBeGreaterThan(0);
}

describe("authorization_code grant", () => {
  it("exchanges a code for tokens of the approving user's account, with the grant's claims", async () => {
    const connected = await appAndUser();
    const tokens = await connect(connected);
    expect(tokens).toMatchObject({
      token_type: "Bearer",
      expires_in: 3600,
      scope: "contacts.read contacts.write webhooks.manage",
      account_id: connected.accountId,
    });
    expect(tokens.refresh_token).toMatch(/^rt_[A-Za-z0-9_-]{43}$/);

    const jwks = await (await SELF.fetch(`${ACME}/.well-known/jwks.json`)).json<{ keys: [] }>();
    const { payload } = await jwtVerify(tokens.access_token, createLocalJWKSet(jwks), {
      issuer: env.ACME_ISSUER,
      audience: env.ACME_AUDIENCE,
    });
    expect(payload).toMatchObject({ sub: connected.accountId, client_id: connected.app.client_id });
    expect(payload.grant).toMatch(/^grt_/);
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);

    // The token acts on the account's data: a contact made with the account's own client shows.
    const res = await listContacts(tokens.access_token);
    expect(res.status).toBe(200);
  });

  it("stores codes and refresh tokens only as hashes", async () => {
    const connected = await appAndUser();
    const { code, verifier } = await authorizationCode(connected);
    const tokens = await (await exchange(connected, code, verifier)).json<{ refresh_token: string }>();
    const dump = JSON.stringify([
      await env.ACME_DB.prepare("SELECT * FROM oauth_codes").all(),
      await env.ACME_DB.prepare("SELECT * FROM oauth_refresh_tokens").all(),
    ]);
    expect(dump).not.toContain(code);
    expect(dump).not.toContain(tokens.refresh_token);
  });

  it("refuses a wrong code_verifier (PKCE) with invalid_grant, and the code still works with the right one", async () => {
    const connected = await appAndUser();
    const { code, verifier } = await authorizationCode(connected);
    await expectInvalidGrant(
      await exchange(connected, code, `${verifier.slice(0, -1)}${verifier.endsWith("A") ? "B" : "A"}`),
    );
    await expectInvalidGrant(await exchange(connected, code, "short"));
    expect((await exchange(connected, code, verifier)).status).toBe(200);
  });

  it("refuses another redirect_uri, another app, and a made-up code", async () => {
    const connected = await appAndUser([REDIRECT_URI, "https://app.example.com/other"]);
    const { code, verifier } = await authorizationCode(connected);
    await expectInvalidGrant(
      await exchange(connected, code, verifier, { redirect_uri: "https://app.example.com/other" }),
    );
    const other = await registerApp(fetchSelf, { redirectUris: [REDIRECT_URI] });
    await expectInvalidGrant(
      await tokenRequest(other, {
        grant_type: "authorization_code",
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
      }),
    );
    await expectInvalidGrant(await exchange(connected, `ac_${"x".repeat(43)}`, verifier));
  });

  it("refuses an expired code (60 s)", async () => {
    const connected = await appAndUser();
    const { code, verifier } = await authorizationCode(connected);
    // The code's expiry moved to the past, as 60 seconds passing would.
    await env.ACME_DB.prepare("UPDATE oauth_codes SET expires_at = ? WHERE app_client_id = ?")
      .bind(Date.now() - 1, connected.app.client_id)
      .run();
    await expectInvalidGrant(await exchange(connected, code, verifier));
    const [entry] = await tokenLog(connected.app);
    expect(entry).toMatchObject({ grant_type: "authorization_code", outcome: "invalid", grant_id: null });
  });

  it("sets the code's expiry 60 s after approval", async () => {
    const connected = await appAndUser();
    const before = Date.now();
    await authorizationCode(connected);
    const row = await env.ACME_DB.prepare("SELECT expires_at FROM oauth_codes WHERE app_client_id = ?")
      .bind(connected.app.client_id)
      .first<{ expires_at: number }>();
    expect(row?.expires_at).toBeGreaterThanOrEqual(before + 60_000);
    expect(row?.expires_at).toBeLessThanOrEqual(Date.now() + 60_000);
  });

  it("a reused code is invalid_grant and revokes the grant issued from it: its tokens stop working", async () => {
    const connected = await appAndUser();
    const { code, verifier } = await authorizationCode(connected);
    const first = await (await exchange(connected, code, verifier)).json<{
      access_token: string;
      refresh_token: string;
    }>();
    expect((await listContacts(first.access_token)).status).toBe(200);

    await expectInvalidGrant(await exchange(connected, code, verifier));
    const refused = await listContacts(first.access_token);
    await expectAcmeError(refused, 401, "invalid_token");
    await expectInvalidGrant(await refresh(connected.app, first.refresh_token));

    const log = await tokenLog(connected.app);
    expect(log.map((e) => e.outcome)).toEqual(["revoked", "reused", "issued"]);
    expect(new Set(log.map((e) => e.grant_id)).size).toBe(1);
  });

  it("answers invalid_request for missing parameters, and unauthorized_client for an app asking client_credentials", async () => {
    const connected = await appAndUser();
    const missing = await tokenRequest(connected.app, { grant_type: "authorization_code", code: "x" });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: "invalid_request" });
    const cc = await tokenRequest(connected.app, { grant_type: "client_credentials" });
    expect(cc.status).toBe(400);
    expect(await cc.json()).toMatchObject({ error: "unauthorized_client" });
  });

  it("a plain client may not use the app grants (unauthorized_client)", async () => {
    const client = await createClient();
    const res = await tokenRequest(
      { client_id: client.clientId, client_secret: client.clientSecret },
      { grant_type: "refresh_token", refresh_token: "rt_x" },
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "unauthorized_client" });
  });

  it("authenticates the app in the body too, and refuses a wrong secret with invalid_client (logged)", async () => {
    const connected = await appAndUser();
    const { code, verifier } = await authorizationCode(connected);
    const wrong = await tokenRequest(
      { ...connected.app, client_secret: "wrong" },
      { grant_type: "refresh_token", refresh_token: "rt_x" },
    );
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: "invalid_client" });
    const res = await SELF.fetch(`${ACME}/oauth/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code",
        code,
        redirect_uri: REDIRECT_URI,
        code_verifier: verifier,
        client_id: connected.app.client_id,
        client_secret: connected.app.client_secret,
      }),
    });
    expect(res.status).toBe(200);
    expect((await tokenLog(connected.app)).map((e) => e.outcome)).toEqual(["issued", "invalid"]);
  });
});

describe("refresh_token grant", () => {
  it("rotates: a new refresh token each time, the old one dead, the new one working", async () => {
    const connected = await appAndUser();
    const first = await connect(connected);
    const res = await refresh(connected.app, first.refresh_token);
    expect(res.status).toBe(200);
    const second = await res.json<{
      refresh_token: string;
      access_token: string;
      account_id: string;
      scope: string;
    }>();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(second.account_id).toBe(connected.accountId);
    expect(second.scope).toBe(first.scope);
    expect((await listContacts(second.access_token)).status).toBe(200);

    const third = await refresh(connected.app, second.refresh_token);
    expect(third.status).toBe(200);
  });

  it("narrows the access token to a requested scope within the grant, and refuses one beyond it", async () => {
    const connected = await appAndUser();
    const tokens = await connect(connected);
    const beyond = await tokenRequest(connected.app, {
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token,
      scope: "contacts.read admin",
    });
    expect(beyond.status).toBe(400);
    expect(await beyond.json()).toMatchObject({ error: "invalid_scope" });
    // The refused request did not use the token up.
    const narrowed = await tokenRequest(connected.app, {
      grant_type: "refresh_token",
      refresh_token: tokens.refresh_token,
      scope: "contacts.read",
    });
    expect(narrowed.status).toBe(200);
    const body = await narrowed.json<{ access_token: string; scope: string }>();
    expect(body.scope).toBe("contacts.read");
    const write = await SELF.fetch(`${ACME}/v1/contacts`, {
      method: "POST",
      headers: { authorization: `Bearer ${body.access_token}`, "content-type": "application/json" },
      body: JSON.stringify({ acme_email: "narrow@example.com" }),
    });
    await expectAcmeError(write, 403, "insufficient_scope");
  });

  it("a used refresh token presented again revokes the grant: access tokens 401, the newest refresh token invalid_grant", async () => {
    const connected = await appAndUser();
    const first = await connect(connected);
    const second = await (await refresh(connected.app, first.refresh_token)).json<Tokens>();
    expect((await listContacts(second.access_token)).status).toBe(200);

    await expectInvalidGrant(await refresh(connected.app, first.refresh_token));
    await expectAcmeError(await listContacts(second.access_token), 401, "invalid_token");
    await expectAcmeError(await listContacts(first.access_token), 401, "invalid_token");
    await expectInvalidGrant(await refresh(connected.app, second.refresh_token));

    const log = await tokenLog(connected.app);
    expect(log.map((e) => [e.grant_type, e.outcome])).toEqual([
      ["refresh_token", "revoked"],
      ["refresh_token", "reused"],
      ["refresh_token", "issued"],
      ["authorization_code", "issued"],
    ]);
    const row = await env.ACME_DB.prepare("SELECT revoked_reason FROM oauth_grants WHERE id = ?")
      .bind(log[0]?.grant_id ?? "")
      .first<{ revoked_reason: string }>();
    expect(row?.revoked_reason).toBe("refresh_token_reuse");
  });

  it("20 concurrent refreshes with one refresh token: exactly one succeeds, and the replays revoke the grant", async () => {
    const connected = await appAndUser();
    const tokens = await connect(connected);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => refresh(connected.app, tokens.refresh_token)),
    );
    const statuses = answers.map((res) => res.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 400)).toHaveLength(19);
    const bodies = await Promise.all(
      answers.map((res) => res.json<{ error?: string; refresh_token?: string }>()),
    );
    expect(bodies.filter((b) => b.error === "invalid_grant")).toHaveLength(19);
    const winner = bodies.find((b) => b.refresh_token);
    await expectInvalidGrant(await refresh(connected.app, winner?.refresh_token ?? ""));

    const log = await tokenLog(connected.app);
    const presented = log.filter((e) => e.refresh_token_id !== null && e.grant_type === "refresh_token");
    expect(presented.filter((e) => e.outcome === "issued")).toHaveLength(1);
    expect(presented.filter((e) => e.outcome === "reused").length).toBeGreaterThanOrEqual(1);
  });

  it("refuses an unknown refresh token and one of another app", async () => {
    const connected = await appAndUser();
    const tokens = await connect(connected);
    await expectInvalidGrant(await refresh(connected.app, `rt_${"y".repeat(43)}`));
    const other = await registerApp(fetchSelf, { redirectUris: [REDIRECT_URI] });
    await expectInvalidGrant(await refresh(other, tokens.refresh_token));
    // Another app's attempt neither used it up nor revoked it.
    expect((await refresh(connected.app, tokens.refresh_token)).status).toBe(200);
  });
});

type Tokens = { access_token: string; refresh_token: string };
