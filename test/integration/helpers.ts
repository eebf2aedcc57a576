import { env, SELF } from "cloudflare:test";
import { expect } from "vitest";
import type { Contact } from "../../src/integration/contacts/schemas.ts";
import { ApiError } from "../../src/integration/errors.ts";
import type { PublicJob } from "../../src/integration/jobs/job-store.ts";
import { createClient, type TestClient, uniqueEmail } from "../acme/helpers.ts";

export type { Contact };

export const BASE = "http://bridge.test";

export interface TestConnection {
  connectionId: string;
  apiKey: string;
  acmeClient: TestClient;
}

/** Calls the integration admin API; with the admin token unless `token` says otherwise (null: none). */
export function admin(
  path: string,
  init: { method?: string; body?: unknown; token?: string | null } = {},
): Promise<Response> {
  const token = init.token === undefined ? env.ADMIN_TOKEN : init.token;
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  return SELF.fetch(`${BASE}/api/v1/admin${path}`, {
    method: init.method ?? "GET",
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
}

/** Connects an existing Acme client (the secret as given, right or wrong) and issues an API key. */
export async function connect(acmeClient: TestClient): Promise<TestConnection> {
  const created = await admin("/connections", {
    method: "POST",
    body: { name: "test", acmeClientId: acmeClient.clientId, acmeClientSecret: acmeClient.clientSecret },
  });
  if (created.status !== 201) throw new Error(`connection failed: ${created.status} ${await created.text()}`);
  const { id } = await created.json<{ id: string }>();
  const key = await admin(`/connections/${id}/api-keys`, { method: "POST" });
  if (key.status !== 201) throw new Error(`api key failed: ${key.status} ${await key.text()}`);
  const { apiKey } = await key.json<{ apiKey: string }>();
  // A new connection starts its backfill: let it finish, so it cannot race the test's own calls.
  await untilJobsSettle(apiKey);
  return { connectionId: id, apiKey, acmeClient };
}

export type { PublicJob };

const FINISHED = ["succeeded", "failed", "cancelled"];

/** Polls the job until `done` says so (by default: until it has finished), and returns it. */
export async function untilJob(
  key: string,
  id: string,
  done: (job: PublicJob) => boolean = (job) => FINISHED.includes(job.status),
  timeoutMs = 60_000,
): Promise<PublicJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api(`/api/v1/jobs/${id}`, { key });
    if (res.status !== 200) throw new Error(`job ${id}: ${res.status} ${await res.text()}`);
    const job = await res.json<PublicJob>();
    if (done(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Waits until every job of the connection has finished. */
export async function untilJobsSettle(key: string): Promise<void> {
  const res = await api("/api/v1/jobs?limit=100", { key });
  if (res.status !== 200) throw new Error(`jobs: ${res.status} ${await res.text()}`);
  const { data } = await res.json<{ data: PublicJob[] }>();
  for (const job of data) if (!FINISHED.includes(job.status)) await untilJob(key, job.id);
}

/** A fresh Acme account, a connection to it (in-process mock) and an API key for that connection. */
export async function newConnection(
  options: Parameters<typeof createClient>[0] = {},
): Promise<TestConnection> {
  return connect(await createClient(options));
}

/** Calls the integration API with an API key and, for objects, a JSON body. */
export function api(
  path: string,
  init: { key?: string; method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.key) headers.authorization = `Bearer ${init.key}`;
  let body: string | undefined;
  if (init.body !== undefined) {
    body = typeof init.body === "string" ? init.body : JSON.stringify(init.body);
    headers["content-type"] ??= "application/json";
  }
  return SELF.fetch(`${BASE}${path}`, { method: init.method ?? "GET", headers, body });
}

/** A valid contact input with a unique email; `overrides` replace or add fields. */
export function person(overrides: Record<string, unknown> = {}) {
  return { firstName: "Ada", lastName: "Lovelace", email: uniqueEmail("ada"), ...overrides };
}

/** Creates a contact through the integration API; fails the test on anything but 201. */
export async function createContact(
  key: string,
  input: Record<string, unknown> = person(),
): Promise<Contact> {
  const res = await api("/api/v1/contacts", { key, method: "POST", body: input });
  if (res.status !== 201) throw new Error(`contact creation failed: ${res.status} ${await res.text()}`);
  return res.json<Contact>();
}

/** Every contact of the connection with this email (the filter Acme applies). */
export async function contactsWithEmail(key: string, email: string): Promise<Contact[]> {
  const res = await api(`/api/v1/contacts?email=${encodeURIComponent(email)}`, { key });
  expect(res.status).toBe(200);
  return (await res.json<{ data: Contact[] }>()).data;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
  errors?: { field: string; message: string }[];
  /** 410 `feed_cursor_expired` only. */
  oldestAfter?: number;
}

export async function problem(res: Response): Promise<Problem> {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = await res.json<Problem>();
  expect(body.requestId).toBe(res.headers.get("x-request-id"));
  return body;
}

/** Asserts a complete RFC 9457 problem with this status and code, and returns it. */
export async function expectProblem(res: Response, status: number, code: string): Promise<Problem> {
  expect(res.status).toBe(status);
  const body = await problem(res);
  expect(body).toMatchObject({ status, code });
  expect(body.type).toBe(`https://acme-bridge.dev/problems/${code.replace(/_/g, "-")}`);
  expect(body.title).toEqual(expect.any(String));
  expect(body.title.length).toBeGreaterThan(0);
  expect(body.detail).toEqual(expect.any(String));
  expect(body.requestId).toMatch(/\S/);
  return body;
}

/** The fields a problem's `errors` name, sorted. */
export function errorFields(body: Problem): string[] {
  return (body.errors ?? []).map((e) => e.field).sort();
}

/** The ApiError `promise` rejects with; fails the test if it resolves or throws anything else. */
export async function problemOf(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error("expected a problem");
}

/** A contact as Acme sends it (without `acme_deleted_at`, which the API never shows). */
export const ACME_CONTACT = {
  id: "ct_1",
  acme_first_name: "Ada",
  acme_last_name: "Lovelace",
  acme_email: "ada@example.com",
  acme_phone: null,
  acme_company: "Engines",
  acme_title: null,
  acme_notes: "n",
  acme_version: 3,
  acme_created_at: "2024-01-01T00:00:00.000Z",
  acme_updated_at: "2024-01-02T00:00:00.000Z",
};

/** Waits (briefly: tests run with a short BREAKER_OPEN_MS) until the connection's circuit lets calls through. */
export async function untilCircuitCloses(key: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await api("/api/v1/status", { key });
    const { circuit } = await res.json<{ circuit: { state: string; retryAfterMs: number } }>();
    if (circuit.state !== "open") return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(200, circuit.retryAfterMs + 10)));
  }
  throw new Error("the circuit stayed open");
}
