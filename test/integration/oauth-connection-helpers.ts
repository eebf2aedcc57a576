import { env, SELF } from "cloudflare:test";
import { drizzle } from "drizzle-orm/d1";
import { decodeJwt } from "jose";
import { loadIntegrationConfig } from "../../src/integration/config.ts";
import { installOAuthGrant } from "../../src/integration/connections/oauth-grant.ts";
import { connections } from "../../src/integration/db/schema.ts";
import { withIdTag } from "../../src/lib/id-tag.ts";
import { newId } from "../../src/lib/ids.ts";
import { ACME, createClient, uniqueEmail } from "../acme/helpers.ts";
import { approveAuthorization, createAccountUser, pkcePair } from "../acme/oauth-helpers.ts";
import { admin } from "./helpers.ts";

/**
 * Inserts an OAuth connection's row (no client secret; `acmeAccountId` is the account its grant
 * acts on) as the connect flow does before it installs the grant, and returns its id (tagged).
 */
export async function insertOAuthConnection(
  options: { endUserId?: string | null; acmeAccountId?: string; name?: string } = {},
): Promise<string> {
  const id = await withIdTag(env.ID_TAG_KEY, newId("conn"));
  await drizzle(env.DB)
    .insert(connections)
    .values({
      id,
      name: options.name ?? "oauth test",
      acmeBaseUrl: null,
      acmeClientId: options.acmeAccountId ?? "cl_unknown",
      acmeClientSecretEnc: null,
      method: "oauth",
      endUserId: options.endUserId ?? null,
      status: "active",
      webhookSecretEnc: null,
      webhookSubscriptionId: null,
      reconciledThrough: null,
      scheduleCheckedAt: null,
      createdAt: new Date().toISOString(),
    });
  return id;
}

/** Issues an API key for a connection through the admin API. */
export async function issueApiKey(connectionId: string): Promise<string> {
  const res = await admin(`/connections/${connectionId}/api-keys`, { method: "POST" });
  if (res.status !== 201) throw new Error(`api key failed: ${res.status} ${await res.text()}`);
  return (await res.json<{ apiKey: string }>()).apiKey;
}

/**
 * The product's app at the in-Worker Acme, as vitest.config.ts configures it. Its callback is the
 * connect flow's tests' (test/integration/connect/), an https origin as Acme requires outside
 * loopback: test files share one storage, so both register the same app the same way.
 */
export const PRODUCT_APP = {
  clientId: env.ACME_OAUTH_CLIENT_ID,
  clientSecret: env.ACME_OAUTH_CLIENT_SECRET,
  redirectUri: "https://bridge.acme-bridge.dev/connect/callback",
};

let registered: Promise<void> | undefined;

/**
 * Registers the product's app at Acme with the credentials of vitest.config.ts and its callback,
 * once per storage: an app already registered under that id (409) gets the callback by PATCH.
 */
export function ensureProductApp(): Promise<void> {
  registered ??= (async () => {
    const headers = { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}`, "content-type": "application/json" };
    const redirectUris = [PRODUCT_APP.redirectUri];
    const created = await SELF.fetch(`${ACME}/admin/apps`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        name: "acme-bridge (tests)",
        redirectUris,
        client_id: PRODUCT_APP.clientId,
        client_secret: PRODUCT_APP.clientSecret,
      }),
    });
    if (created.status === 201) return;
    if (created.status !== 409)
      throw new Error(`app registration: ${created.status} ${await created.text()}`);
    const patched = await SELF.fetch(`${ACME}/admin/apps/${encodeURIComponent(PRODUCT_APP.clientId)}`, {
      method: "PATCH",
      headers,
      body: JSON.stringify({ redirectUris }),
    });
    if (patched.status !== 200) throw new Error(`app update: ${patched.status} ${await patched.text()}`);
  })();
  return registered;
}

/** Tokens from Acme's token endpoint for an authorization code or refresh grant. */
export interface GrantTokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  account_id: string;
}

/** Calls Acme's token endpoint as the product's app (HTTP Basic) with `form`. */
export function appTokenRequest(form: Record<string, string>): Promise<Response> {
  const basic = btoa(
    `${encodeURIComponent(PRODUCT_APP.clientId)}:${encodeURIComponent(PRODUCT_APP.clientSecret)}`,
  );
  return SELF.fetch(`${ACME}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${basic}` },
    body: new URLSearchParams(form).toString(),
  });
}

/** An Acme account with one user who can sign in. */
export interface AccountUser {
  accountId: string;
  email: string;
  password: string;
}

/** A fresh Acme account and a user of it. */
export async function newAccountUser(): Promise<AccountUser> {
  const account = await createClient();
  const email = uniqueEmail("owner");
  const password = `pw-${crypto.randomUUID()}`;
  await createAccountUser(SELF.fetch.bind(SELF), account.clientId, { email, password });
  return { accountId: account.clientId, email, password };
}

/**
 * A grant of the product's app on `user`'s account, as the connect flow gets it: the authorize
 * page approved by the user (PKCE S256, state), then the code exchanged.
 */
export async function approvedGrant(user: AccountUser): Promise<GrantTokens> {
  await ensureProductApp();
  const { verifier, challenge } = await pkcePair();
  const state = crypto.randomUUID();
  const authorize = new URL(`${ACME}/oauth/authorize`);
  for (const [key, value] of Object.entries({
    response_type: "code",
    client_id: PRODUCT_APP.clientId,
    redirect_uri: PRODUCT_APP.redirectUri,
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  }))
    authorize.searchParams.set(key, value);
  const location = new URL(
    await approveAuthorization(SELF.fetch.bind(SELF), authorize.toString(), {
      email: user.email,
      password: user.password,
    }),
  );
  const code = location.searchParams.get("code");
  if (!code || location.searchParams.get("state") !== state) throw new Error(`no code in ${location}`);
  const res = await appTokenRequest({
    grant_type: "authorization_code",
    code,
    redirect_uri: PRODUCT_APP.redirectUri,
    code_verifier: verifier,
  });
  if (res.status !== 200) throw new Error(`code exchange failed: ${res.status} ${await res.text()}`);
  return res.json<GrantTokens>();
}

/** An OAuth connection as the connect flow leaves it: its row, its grant installed, an API key. */
export interface OAuthTestConnection {
  connectionId: string;
  apiKey: string;
  user: AccountUser;
  endUserId: string;
  /** The grant's id at Acme (the access token's `grant` claim), to read Acme's token log by. */
  grantId: string;
}

/** The `grant` claim of an access token issued for a grant. */
export function grantIdOf(accessToken: string): string {
  const grant = decodeJwt(accessToken).grant;
  if (typeof grant !== "string") throw new Error("the access token names no grant");
  return grant;
}

/**
 * A new OAuth connection: an Acme account and user, a grant they approved, the connection row,
 * the grant installed with installOAuthGrant, and an API key (the connect flow's steps without
 * its pages, which its own tests cover).
 */
export async function newOAuthConnection(user?: AccountUser): Promise<OAuthTestConnection> {
  const owner = user ?? (await newAccountUser());
  const tokens = await approvedGrant(owner);
  const endUserId = `user_${crypto.randomUUID()}`;
  const connectionId = await insertOAuthConnection({ endUserId, acmeAccountId: tokens.account_id });
  await installOAuthGrant(env, loadIntegrationConfig(env).secretKeys, connectionId, {
    refreshToken: tokens.refresh_token,
    accessToken: tokens.access_token,
    expiresIn: tokens.expires_in,
  });
  return {
    connectionId,
    apiKey: await issueApiKey(connectionId),
    user: owner,
    endUserId,
    grantId: grantIdOf(tokens.access_token),
  };
}

/** One entry of Acme's token log for an app. */
export interface TokenLogEntry {
  at: string;
  grant_type: string;
  grant_id: string | null;
  refresh_token_id: string | null;
  outcome: "issued" | "reused" | "invalid" | "revoked";
}

/** Acme's token log of the product's app, newest first, only the entries of `grantId`. */
export async function tokenLog(grantId: string): Promise<TokenLogEntry[]> {
  const res = await SELF.fetch(
    `${ACME}/admin/apps/${encodeURIComponent(PRODUCT_APP.clientId)}/token-log?limit=1000`,
    {
      headers: { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}` },
    },
  );
  if (res.status !== 200) throw new Error(`token log: ${res.status} ${await res.text()}`);
  return (await res.json<{ data: TokenLogEntry[] }>()).data.filter((entry) => entry.grant_id === grantId);
}
