import { env, SELF } from "cloudflare:test";
import { expect } from "vitest";
import type { AcmeContact } from "../../src/acme/contacts/schemas.ts";

export const ACME = "http://bridge.test/acme";

export interface TestClient {
  clientId: string;
  clientSecret: string;
}

let counter = 0;

/** A fresh Acme client (and so a fresh account), registered through the admin API. */
export async function createClient(
  options: { scopes?: string[]; rateLimits?: Record<string, { limit: number; windowSeconds: number }> } = {},
): Promise<TestClient> {
  counter += 1;
  const res = await SELF.fetch(`${ACME}/admin/clients`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({
      name: `test client ${counter}`,
      ...(options.scopes ? { scopes: options.scopes } : {}),
      ...(options.rateLimits ? { rate_limits: options.rateLimits } : {}),
    }),
  });
  if (res.status !== 201) throw new Error(`client creation failed: ${res.status} ${await res.text()}`);
  const body = await res.json<{ client_id: string; client_secret: string }>();
  return { clientId: body.client_id, clientSecret: body.client_secret };
}

export async function requestToken(client: TestClient, scope?: string): Promise<Response> {
  const form = new URLSearchParams({ grant_type: "client_credentials" });
  if (scope) form.set("scope", scope);
  return SELF.fetch(`${ACME}/oauth/token`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: `Basic ${btoa(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`)}`,
    },
    body: form,
  });
}

export async function tokenFor(client: TestClient, scope?: string): Promise<string> {
  const res = await requestToken(client, scope);
  if (res.status !== 200) throw new Error(`token request failed: ${res.status} ${await res.text()}`);
  return (await res.json<{ access_token: string }>()).access_token;
}

/** Calls Acme with a bearer token and, for objects, a JSON body. */
export function acme(
  path: string,
  init: { token?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    headers["content-type"] ??= "application/json";
  }
  return SELF.fetch(`${ACME}${path}`, { method: init.method ?? "GET", headers, body });
}

/** A client with a token holding every scope: the common case in contact tests. */
export async function signedIn(options: Parameters<typeof createClient>[0] = {}) {
  const client = await createClient(options);
  return { client, token: await tokenFor(client) };
}

export function uniqueEmail(label = "person"): string {
  counter += 1;
  return `${label}.${counter}.${crypto.randomUUID().slice(0, 8)}@example.com`;
}

export interface AcmeErrorBody {
  error: { code: string; message: string; details?: { field: string; message: string }[] };
}

/** Asserts an Acme error response (status, JSON, code) and returns its body for further checks. */
export async function expectAcmeError(res: Response, status: number, code: string): Promise<AcmeErrorBody> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body = await res.json<AcmeErrorBody>();
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe("string");
  return body;
}

/** The fields an error's `details` name, sorted. */
export function detailFields(body: AcmeErrorBody): string[] {
  return (body.error.details ?? []).map((d) => d.field).sort();
}

/** Every live contact of the token's Acme account, paging through the list (100 a page). */
export async function acmeContacts(token: string): Promise<AcmeContact[]> {
  const out: AcmeContact[] = [];
  let after: string | undefined;
  do {
    const res = await acme(`/v1/contacts?limit=100${after ? `&after=${after}` : ""}`, { token });
    expect(res.status).toBe(200);
    const page = await res.json<{ results: AcmeContact[]; paging?: { next: { after: string } } }>();
    out.push(...page.results);
    after = page.paging?.next.after;
  } while (after);
  return out;
}

/** Creates a contact through the API; fails the test on anything but 201. */
export async function createContact(token: string, body: Record<string, unknown>): Promise<AcmeContact> {
  const res = await acme("/v1/contacts", { token, method: "POST", body });
  if (res.status !== 201) throw new Error(`contact creation failed: ${res.status} ${await res.text()}`);
  return res.json<AcmeContact>();
}
