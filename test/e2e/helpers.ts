import { expect, inject } from "vitest";
import { createAcmeBridgeAdminClient } from "../../client/index.ts";

export const base = inject("baseUrl");
export const acmeAdmin = inject("adminToken");
export const admin = inject("integrationAdminToken");

export async function post<T>(path: string, token: string, body: unknown, status = 201): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(status);
  return (await res.json()) as T;
}

export interface E2eConnection {
  apiKey: string;
  connectionId: string;
  acmeClientId: string;
  acmeClientSecret: string;
}

/** What `npm start` does: an Acme account, a connection to it, and an API key. */
export async function newConnection(): Promise<E2eConnection> {
  const client = await post<{ client_id: string; client_secret: string }>("/acme/admin/clients", acmeAdmin, {
    name: "e2e",
  });
  const bridge = createAcmeBridgeAdminClient({ baseUrl: base, adminToken: admin });
  const { data: connection, response } = await bridge.POST("/api/v1/admin/connections", {
    body: { name: "e2e", acmeClientId: client.client_id, acmeClientSecret: client.client_secret },
  });
  expect(response.status).toBe(201);
  if (!connection) throw new Error("no connection");
  const { data: key } = await bridge.POST("/api/v1/admin/connections/{id}/api-keys", {
    params: { path: { id: connection.id } },
  });
  if (!key) throw new Error("no API key");
  return {
    apiKey: key.apiKey,
    connectionId: connection.id,
    acmeClientId: client.client_id,
    acmeClientSecret: client.client_secret,
  };
}

export async function acmeToken(connection: E2eConnection): Promise<string> {
  const res = await fetch(`${base}/acme/oauth/token`, {
    method: "POST",
    headers: { authorization: `Basic ${btoa(`${connection.acmeClientId}:${connection.acmeClientSecret}`)}` },
    body: new URLSearchParams({ grant_type: "client_credentials" }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

export async function setFaults(profile: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${base}/acme/admin/faults`, {
    method: "PUT",
    headers: { authorization: `Bearer ${acmeAdmin}`, "content-type": "application/json" },
    body: JSON.stringify(profile),
  });
  expect(res.status).toBe(200);
}

/**
 * Polls `check` every `everyMs` until it returns a value; fails after `timeoutMs` with an error
 * saying `what` was not reached, and `detail()` (the state last seen).
 */
export async function until<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  what: string,
  detail: () => string = () => "",
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms ${detail()}`);
    await sleep(everyMs);
  }
}

/** Polls until `check` returns a value, or fails after `timeoutMs`. */
export function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  return until(check, timeoutMs, "condition not met", undefined, 200);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
