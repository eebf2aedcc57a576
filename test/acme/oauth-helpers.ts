import { newCodeVerifier, s256Challenge } from "../../src/lib/pkce.ts";

/** A fetch as SELF.fetch (workerd) and the global fetch (end-to-end) both are. */
export type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Acme's base URL for the in-Worker mock, as the workerd suite reaches it. */
const DEFAULT_ACME = "http://bridge.test/acme";

/**
 * Where Acme is (its `/acme` base URL) and its admin token. Defaults: the workerd suite's own
 * (http://bridge.test/acme and the test env's ACME_ADMIN_TOKEN); an end-to-end test passes its
 * server's, or sets them once with `setAcmeTarget`.
 */
export interface AcmeTarget {
  base?: string;
  adminToken?: string;
}

let defaults: AcmeTarget = {};

/** Sets the Acme every later call of these helpers talks to (end-to-end tests: their own server). */
export function setAcmeTarget(target: AcmeTarget): void {
  defaults = { ...target };
}

export interface RegisteredApp {
  client_id: string;
  client_secret: string;
  name: string;
  redirectUris: string[];
}

let counter = 0;

async function target(options: AcmeTarget): Promise<{ base: string; adminToken: string }> {
  const base = options.base ?? defaults.base ?? DEFAULT_ACME;
  const adminToken = options.adminToken ?? defaults.adminToken ?? (await workerdAdminToken());
  return { base, adminToken };
}

/** The workerd suite's ACME_ADMIN_TOKEN; only there is `cloudflare:test` importable (not in Node). */
async function workerdAdminToken(): Promise<string> {
  const specifier = "cloudflare:test";
  try {
    const { env } = (await import(/* @vite-ignore */ specifier)) as { env: { ACME_ADMIN_TOKEN: string } };
    return env.ACME_ADMIN_TOKEN;
  } catch {
    throw new Error("outside workerd, pass { base, adminToken } or call setAcmeTarget first");
  }
}

/** Registers an app at Acme (POST /acme/admin/apps); throws unless 201. */
export async function registerApp(
  fetch: Fetch,
  input: { redirectUris: string[]; client_id?: string; client_secret?: string; name?: string },
  options: AcmeTarget = {},
): Promise<RegisteredApp> {
  const { base, adminToken } = await target(options);
  counter += 1;
  const res = await fetch(`${base}/admin/apps`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: input.name ?? `test app ${counter}`, ...input }),
  });
  if (res.status !== 201) throw new Error(`app registration failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as RegisteredApp;
}

/** Gives an Acme account (a client id) a user who can sign in; throws unless 201. */
export async function createAccountUser(
  fetch: Fetch,
  accountId: string,
  input: { email: string; password: string },
  options: AcmeTarget = {},
): Promise<{ id: string; email: string }> {
  const { base, adminToken } = await target(options);
  const res = await fetch(`${base}/admin/clients/${encodeURIComponent(accountId)}/users`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify(input),
  });
  if (res.status !== 201) throw new Error(`user creation failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; email: string };
}

/** A PKCE pair (RFC 7636): a random 43-character verifier and its S256 challenge. */
export async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = newCodeVerifier();
  return { verifier, challenge: await s256Challenge(verifier) };
}

/** The `name=value` pairs a response's Set-Cookie headers set, as a Cookie header sends them back. */
export function cookiesOf(res: Response): string {
  return res.headers
    .getSetCookie()
    .map((line) => line.split(";")[0] ?? "")
    .filter(Boolean)
    .join("; ");
}

/** The hidden inputs of a page's form, by name (values unescaped as a browser would). */
export function hiddenFields(html: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input\b[^>]*>/g)) {
    const tag = match[0];
    if (!/type="hidden"/.test(tag)) continue;
    const name = /name="([^"]*)"/.exec(tag)?.[1];
    const value = /value="([^"]*)"/.exec(tag)?.[1] ?? "";
    if (name) fields[unescapeHtml(name)] = unescapeHtml(value);
  }
  return fields;
}

function unescapeHtml(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
}

/**
 * Plays the user at Acme's consent page: GETs `authorizeUrl` (keeping its cookie), reads the
 * form's hidden fields (CSRF included), and POSTs them with the credentials and the decision
 * (approve by default). Returns the redirect's `Location`; throws when the page or the POST does
 * not answer as a working page would (200, then 302), with the status and body.
 */
export async function approveAuthorization(
  fetch: Fetch,
  authorizeUrl: string,
  input: { email: string; password: string; decision?: "approve" | "deny" },
): Promise<string> {
  const page = await fetch(authorizeUrl, { redirect: "manual" });
  const html = await page.text();
  if (page.status !== 200) throw new Error(`authorize page answered ${page.status}: ${html.slice(0, 300)}`);
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1];
  const form = new URLSearchParams({
    ...hiddenFields(html),
    email: input.email,
    password: input.password,
    decision: input.decision ?? "approve",
  });
  const res = await fetch(new URL(unescapeHtml(action ?? ""), authorizeUrl).href, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookiesOf(page) },
    body: form,
  });
  const location = res.headers.get("location");
  if (res.status !== 302 || !location) {
    throw new Error(`authorize POST answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  }
  await res.body?.cancel();
  return location;
}
