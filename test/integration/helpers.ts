import { env, SELF } from "cloudflare:test";
import { expect } from "vitest";
import { createClient, type TestClient } from "../acme/helpers.ts";

export const BASE = "http://bridge.test";

export interface TestConnection {
  connectionId: string;
  apiKey: string;
  acmeClient: TestClient;
}

/** Calls the integration admin API with the admin token. */
export function admin(path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  return SELF.fetch(`${BASE}/api/v1/admin${path}`, {
    method: init.method ?? "GET",
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
}

/** A fresh Acme account, a connection to it (in-process mock) and an API key for that connection. */
export async function newConnection(
  options: Parameters<typeof createClient>[0] = {},
): Promise<TestConnection> {
  const acmeClient = await createClient(options);
  const created = await admin("/connections", {
    method: "POST",
    body: { name: "test", acmeClientId: acmeClient.clientId, acmeClientSecret: acmeClient.clientSecret },
  });
  if (created.status !== 201) throw new Error(`connection failed: ${created.status} ${await created.text()}`);
  const { id } = await created.json<{ id: string }>();
  const key = await admin(`/connections/${id}/api-keys`, { method: "POST" });
  if (key.status !== 201) throw new Error(`api key failed: ${key.status} ${await key.text()}`);
  const { apiKey } = await key.json<{ apiKey: string }>();
  return { connectionId: id, apiKey, acmeClient };
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

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string;
  errors?: { field: string; message: string }[];
}

export async function problem(res: Response): Promise<Problem> {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const body = await res.json<Problem>();
  expect(body.requestId).toBe(res.headers.get("x-request-id"));
  return body;
}
