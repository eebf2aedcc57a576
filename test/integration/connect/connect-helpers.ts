import { env, listDurableObjectIds, runInDurableObject, SELF } from "cloudflare:test";
import { expect } from "vitest";
import { secretHash, stateFor } from "../../../src/integration/connect/connect-tokens.ts";
import type { ConnectSession, ConnectSessionRow } from "../../../src/integration/connect/session-object.ts";

/**
 * The public https origin the connect tests reach the Worker at: Acme takes webhook URLs there
 * (not at http://bridge.test), so connections made by the flow get their subscription.
 */
export const CONNECT_BASE = "https://bridge.acme-bridge.dev";

/** A connect session as the admin API returns it. */
export interface CreatedSession {
  token: string;
  url: string;
  expiresAt: string;
}

/** A fresh end user id, unique across the test run. */
export function endUser(label = "user"): string {
  return `${label}_${crypto.randomUUID()}`;
}

/** Creates a connect session through the admin API; fails the test on anything but 201. */
export async function createSession(body: Record<string, unknown>): Promise<CreatedSession> {
  const res = await SELF.fetch(`${CONNECT_BASE}/api/v1/admin/connect-sessions`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`connect session failed: ${res.status} ${await res.text()}`);
  return res.json<CreatedSession>();
}

/** GETs a connect page (no redirects followed), with the cookie if given. */
export function getPage(path: string, cookie?: string): Promise<Response> {
  return SELF.fetch(`${CONNECT_BASE}${path}`, {
    redirect: "manual",
    headers: cookie ? { cookie } : {},
  });
}

/** POSTs a form to a connect page as a browser on this origin would. */
export function postPage(path: string, form: Record<string, string>, cookie?: string): Promise<Response> {
  return SELF.fetch(`${CONNECT_BASE}${path}`, {
    method: "POST",
    redirect: "manual",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      origin: CONNECT_BASE,
      ...(cookie ? { cookie } : {}),
    },
    body: new URLSearchParams(form),
  });
}

/** The path of a session's page (its `url` is on the test origin). */
export function pathOf(session: CreatedSession): string {
  return new URL(session.url).pathname;
}

/** How many connect sessions are stored (objects holding one). */
export async function sessionCount(): Promise<number> {
  return (await listDurableObjectIds(env.CONNECT_SESSIONS)).length;
}

/** The object of the session behind `token` (named by the hash of the state the token derives). */
async function sessionObject(token: string): Promise<DurableObjectStub<ConnectSession>> {
  const stateHash = await secretHash(await stateFor(env.ID_TAG_KEY, token));
  return env.CONNECT_SESSIONS.get(env.CONNECT_SESSIONS.idFromName(stateHash));
}

/** The stored session behind `token`, or null. */
export async function storedSession(token: string): Promise<ConnectSessionRow | null> {
  return (await sessionObject(token)).read();
}

/** Changes the stored session behind `token` behind the Worker's back (expiry, use, verifier). */
export async function patchSession(token: string, patch: Partial<ConnectSessionRow>): Promise<void> {
  await runInDurableObject(await sessionObject(token), (_instance, state) => {
    const row = state.storage.kv.get<ConnectSessionRow>("session");
    if (!row) throw new Error("no such session");
    state.storage.kv.put("session", { ...row, ...patch });
  });
}

/** When the session object's alarm is set (epoch ms), or null. */
export async function sessionAlarm(token: string): Promise<number | null> {
  return runInDurableObject(await sessionObject(token), (_instance, state) => state.storage.getAlarm());
}

/** Runs the session object's alarm now (its retention). */
export async function runSessionAlarm(token: string): Promise<void> {
  await runInDurableObject(await sessionObject(token), (instance) => instance.alarm());
}

/** The connections of an end user, from D1. */
export async function connectionsOf(endUserId: string) {
  const { results } = await env.DB.prepare(
    "SELECT id, method, end_user_id, acme_client_id, status, acme_client_secret_enc FROM connections WHERE end_user_id = ?",
  )
    .bind(endUserId)
    .all<{
      id: string;
      method: string;
      end_user_id: string;
      acme_client_id: string;
      status: string;
      acme_client_secret_enc: string | null;
    }>();
  return results;
}

/** Asserts an HTML page with this status and the connect pages' headers; returns its text. */
export async function expectPage(res: Response, status: number): Promise<string> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^text\/html/);
  const csp = res.headers.get("content-security-policy") ?? "";
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(res.headers.get("cache-control")).toBe("no-store");
  expect(res.headers.get("referrer-policy")).toBe("no-referrer");
  return res.text();
}

/** The value of a hidden `_csrf` field in a page. */
export function csrfOf(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error("no CSRF field in the page");
  return match[1];
}

/** The `name=value` of the form's cookie set by a response. */
export function formCookieOf(res: Response): string {
  const set = res.headers.get("set-cookie") ?? "";
  const match = /(__Host-connect_form=[^;]+)/.exec(set);
  if (!match?.[1]) throw new Error(`no form cookie in ${set}`);
  return match[1];
}

const ACME_ADMIN = `${CONNECT_BASE}/acme/admin`;

let productApp: Promise<void> | undefined;

/**
 * Registers the product's app at the in-Worker Acme (ACME_OAUTH_CLIENT_ID and its secret) with
 * this suite's callbacks, once per storage: an app already there (another file registered it)
 * gets them by PATCH.
 */
export function ensureProductApp(): Promise<void> {
  productApp ??= (async () => {
    const redirectUris = [`${CONNECT_BASE}/connect/callback`];
    const headers = { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}`, "content-type": "application/json" };
    const created = await SELF.fetch(`${ACME_ADMIN}/apps`, {
      method: "POST",
      headers,
      body: JSON.stringify({
        name: "acme-bridge (tests)",
        client_id: env.ACME_OAUTH_CLIENT_ID,
        client_secret: env.ACME_OAUTH_CLIENT_SECRET,
        redirectUris,
      }),
    });
    if (created.status === 201) return;
    if (created.status !== 409)
      throw new Error(`app registration: ${created.status} ${await created.text()}`);
    const patched = await SELF.fetch(`${ACME_ADMIN}/apps/${env.ACME_OAUTH_CLIENT_ID}`, {
      method: "PATCH",
      headers,
      body: JSON.stringify({ redirectUris }),
    });
    if (patched.status !== 200) throw new Error(`app update: ${patched.status} ${await patched.text()}`);
  })();
  return productApp;
}

/** The `Continue to Acme` link of an OAuth session's page. */
export function authorizeHrefOf(html: string): string {
  const href = /id="continue" href="([^"]+)"/.exec(html)?.[1];
  if (!href) throw new Error("no link to Acme in the page");
  return href.replace(/&amp;/g, "&");
}

/** The path and query of a URL on this suite's origin (the callback Acme redirected to). */
export function localPath(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}
