import { env, SELF } from "cloudflare:test";
import { ACME, createClient, uniqueEmail } from "./helpers.ts";
import {
  approveAuthorization,
  createAccountUser,
  pkcePair,
  type RegisteredApp,
  registerApp,
} from "./oauth-helpers.ts";

// Shared set-up of the oauth*.test.ts files: an app, an account with a user, a code flow run through.

export const REDIRECT_URI = "https://app.example.com/oauth/callback";
export const PASSWORD = "correct horse battery staple";

export const fetchSelf = (input: string | URL | Request, init?: RequestInit) => SELF.fetch(input, init);

export interface Connected {
  app: RegisteredApp;
  accountId: string;
  email: string;
}

/** A registered app and an account (a plain Acme client) with a user who can sign in. */
export async function appAndUser(redirectUris: string[] = [REDIRECT_URI]): Promise<Connected> {
  const app = await registerApp(fetchSelf, { redirectUris });
  const account = await createClient();
  const email = uniqueEmail("user");
  await createAccountUser(fetchSelf, account.clientId, { email, password: PASSWORD });
  return { app, accountId: account.clientId, email };
}

/** An authorize URL for the app with a fresh PKCE pair (overrides replace or, as null, drop parameters). */
export async function authorizeUrl(
  app: RegisteredApp,
  overrides: Record<string, string | null> = {},
): Promise<{ url: string; verifier: string; state: string }> {
  const { verifier, challenge } = await pkcePair();
  const state = crypto.randomUUID();
  const params: Record<string, string | null> = {
    response_type: "code",
    client_id: app.client_id,
    redirect_uri: app.redirectUris[0] ?? REDIRECT_URI,
    scope: "contacts.read contacts.write webhooks.manage",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...overrides,
  };
  const query = new URLSearchParams(
    Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== null),
  );
  return { url: `${ACME}/oauth/authorize?${query}`, verifier, state };
}

/** Sends the user through the page and returns the code of the redirect (checking its state). */
export async function authorizationCode(connected: Connected): Promise<{ code: string; verifier: string }> {
  const { url, verifier, state } = await authorizeUrl(connected.app);
  const location = new URL(
    await approveAuthorization(fetchSelf, url, { email: connected.email, password: PASSWORD }),
  );
  if (location.searchParams.get("state") !== state) throw new Error(`state not returned: ${location}`);
  const code = location.searchParams.get("code");
  if (!code) throw new Error(`no code in ${location}`);
  return { code, verifier };
}

/** POSTs a form to the token endpoint, authenticated as the app with HTTP Basic. */
export function tokenRequest(
  app: { client_id: string; client_secret: string },
  form: Record<string, string>,
) {
  return SELF.fetch(`${ACME}/oauth/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${btoa(`${encodeURIComponent(app.client_id)}:${encodeURIComponent(app.client_secret)}`)}`,
    },
    body: new URLSearchParams(form),
  });
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  scope: string;
  account_id: string;
  token_type: string;
}

/** A full code flow: the grant's first tokens. */
export async function connect(connected: Connected): Promise<Tokens> {
  const { code, verifier } = await authorizationCode(connected);
  const res = await tokenRequest(connected.app, {
    grant_type: "authorization_code",
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: verifier,
  });
  if (res.status !== 200) throw new Error(`code exchange failed: ${res.status} ${await res.text()}`);
  return res.json<Tokens>();
}

export function refresh(app: RegisteredApp, refreshToken: string) {
  return tokenRequest(app, { grant_type: "refresh_token", refresh_token: refreshToken });
}

/** A call to Acme's contact list with a bearer token: 200 while the token works. */
export function listContacts(token: string) {
  return SELF.fetch(`${ACME}/v1/contacts?limit=1`, { headers: { authorization: `Bearer ${token}` } });
}

export function adminFetch(path: string, init: RequestInit = {}) {
  return SELF.fetch(`${ACME}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}`, ...(init.headers as Record<string, string>) },
  });
}

export interface TokenLogEntry {
  at: string;
  grant_type: string;
  grant_id: string | null;
  refresh_token_id: string | null;
  outcome: string;
}

export async function tokenLog(app: RegisteredApp): Promise<TokenLogEntry[]> {
  const res = await adminFetch(`/admin/apps/${app.client_id}/token-log?limit=1000`);
  if (res.status !== 200) throw new Error(`token log: ${res.status}`);
  return (await res.json<{ data: TokenLogEntry[] }>()).data;
}
