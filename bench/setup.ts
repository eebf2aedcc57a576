// The benchmark's set-up on a running server, shared by `npm run bench` and the profiler.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { createAcmeBridgeAdminClient } from "../client/index.ts";
import { localSettings } from "../scripts/dev-vars.ts";
import { generateSecrets } from "../scripts/secrets.ts";
import { applyLocalMigrations, type DevServer, freePort, startDevServer } from "../scripts/wrangler-dev.ts";

/**
 * The Worker's vars for a benchmark run on `port`: the runtime is measured, not the quota, so
 * Acme's limits are far above what the load can reach, faults are off and cached copies stay
 * fresh for an hour.
 */
export function benchVars(port: number, secrets: Record<string, string>): Record<string, string> {
  return {
    ...localSettings(port),
    ...secrets,
    ACME_FAULTS_ENABLED: "false",
    ACME_RATE_LIMITS: JSON.stringify({
      read: { limit: 1_000_000, windowSeconds: 60 },
      write: { limit: 1_000_000, windowSeconds: 60 },
      delete: { limit: 1_000_000, windowSeconds: 60 },
      token: { limit: 10_000, windowSeconds: 60 },
      token_failure: { limit: 5, windowSeconds: 300 },
    }),
    CACHE_TTL_SECONDS: "3600",
  };
}

/** A running benchmark server and how to end it. */
export interface BenchServer {
  server: DevServer;
  vars: Record<string, string>;
  /** Its state directory (D1, KV, DO, queues). */
  persistTo: string;
  /** Stops the server and removes its state directory (unless `keepState`). */
  close: (options?: { keepState?: boolean }) => Promise<void>;
}

/**
 * Starts `wrangler dev` for a benchmark: a fresh, migrated state directory, a free port, fresh
 * secrets and `benchVars` (with `extraVars` over them). Throws what `startDevServer` throws,
 * having removed the state directory.
 */
export async function startBenchServer(
  options: { extraVars?: Record<string, string>; unminified?: boolean } = {},
): Promise<BenchServer> {
  const persistTo = mkdtempSync(join(tmpdir(), "acme-bridge-bench-"));
  const removeState = () => rmSync(persistTo, { recursive: true, force: true });
  try {
    applyLocalMigrations(persistTo);
    const port = await freePort();
    const vars = { ...benchVars(port, await generateSecrets()), ...options.extraVars };
    const server = await startDevServer({
      port,
      persistTo,
      vars,
      ...(options.unminified ? { unminified: true } : {}),
    });
    return {
      server,
      vars,
      persistTo,
      close: async ({ keepState = false } = {}) => {
        await server.stop();
        if (!keepState) removeState();
      },
    };
  } catch (error) {
    removeState();
    throw error;
  }
}

/** One autocannon run, as a promise. */
export function load(options: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

/** What the set-up made: an Acme client with a contact, and a connection to it with an API key and a webhook subscription. */
export interface Setup {
  acmeToken: string;
  contactId: string;
  apiKey: string;
  connectionId: string;
  acmeClientId: string;
  acmeClientSecret: string;
  subscriptionId: string;
}

/** The JSON body of a response that answered `expected`; throws naming the URL otherwise. */
export async function json<T>(res: Response, expected: number): Promise<T> {
  if (res.status !== expected) throw new Error(`${res.url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The data of a typed client call that answered `expected`, or an error naming the call. */
export function expectData<T>(
  result: { data?: T; error?: unknown; response: Response },
  expected: number,
): T {
  if (result.response.status !== expected || result.data === undefined) {
    throw new Error(`${result.response.url}: ${result.response.status} ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

/** POSTs JSON with a bearer token. */
export function post(url: string, token: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** An Acme access token for a client (client credentials). */
export async function acmeTokenFor(base: string, id: string, secret: string): Promise<string> {
  const res = await fetch(`${base}/acme/oauth/token`, {
    method: "POST",
    headers: { authorization: `Basic ${btoa(`${id}:${secret}`)}` },
    body: new URLSearchParams({ grant_type: "client_credentials" }),
  });
  return (await json<{ access_token: string }>(res, 200)).access_token;
}

/** Creates the set-up on a running server; `rateLimits` for the Acme client, else Acme's defaults. */
export async function setUp(
  base: string,
  vars: Record<string, string>,
  rateLimits?: unknown,
): Promise<Setup> {
  const acmeAdmin = vars.ACME_ADMIN_TOKEN ?? "";
  const admin = vars.ADMIN_TOKEN ?? "";
  const client = await json<{ client_id: string; client_secret: string }>(
    await post(`${base}/acme/admin/clients`, acmeAdmin, {
      name: "bench",
      ...(rateLimits ? { rate_limits: rateLimits } : {}),
    }),
    201,
  );
  const acmeToken = await acmeTokenFor(base, client.client_id, client.client_secret);
  const contact = await json<{ id: string }>(
    await post(`${base}/acme/v1/contacts`, acmeToken, {
      acme_first_name: "Bench",
      acme_last_name: "Mark",
      acme_email: `bench-${crypto.randomUUID()}@example.com`,
    }),
    201,
  );
  const bridge = createAcmeBridgeAdminClient({ baseUrl: base, adminToken: admin });
  const connection = expectData(
    await bridge.POST("/api/v1/admin/connections", {
      body: { name: "bench", acmeClientId: client.client_id, acmeClientSecret: client.client_secret },
    }),
    201,
  );
  const byId = { params: { path: { id: connection.id } } };
  const key = expectData(await bridge.POST("/api/v1/admin/connections/{id}/api-keys", byId), 201);
  const subscription = expectData(
    await bridge.POST("/api/v1/admin/connections/{id}/webhook-subscription", byId),
    201,
  );
  return {
    acmeToken,
    contactId: contact.id,
    apiKey: key.apiKey,
    connectionId: connection.id,
    acmeClientId: client.client_id,
    acmeClientSecret: client.client_secret,
    subscriptionId: subscription.subscriptionId,
  };
}
