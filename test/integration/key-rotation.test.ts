import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { Webhook } from "standardwebhooks";
import { afterAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { forgetApiKey } from "../../src/integration/auth/api-key.ts";
import { loadIntegrationConfig } from "../../src/integration/config.ts";
import { acmeSessionStub } from "../../src/integration/session/session-stub.ts";
import type { InboxMessage } from "../../src/integration/webhooks/acme-event.ts";
import { forgetWebhookSecret } from "../../src/integration/webhooks/webhook-secret-cache.ts";
import { sha256Hex } from "../../src/lib/crypto.ts";
import { fromBase64Url, randomSecret, toBase64Url } from "../../src/lib/ids.ts";
import { SecretKeyRing, secretKeyId } from "../../src/lib/secret-box.ts";
import { BASE, expectProblem, newConnection, person, type TestConnection } from "./helpers.ts";
import { acmeContact, eventBody } from "./inbox-helpers.ts";

// ENCRYPTION_KEYS rotated while requests run. Bindings are fixed for the run, so each "isolate"
// here is the app given a copy of env with its own ring (config is loaded per env object), the
// way a deployment's isolates pick up a changed secret one by one.

const app = createApp();
const OLD = env.ENCRYPTION_KEYS;
const NEW = randomSecret(32);
const received: InboxMessage[] = [];

function ringEnv(ring: string): Env {
  return {
    ...env,
    ENCRYPTION_KEYS: ring,
    // Every call asks the session, so a dropped token is exchanged again on the next call.
    SESSION_SLOTS_AHEAD: "false",
    INBOX_QUEUE: {
      send: async (message: InboxMessage) => {
        received.push(message);
      },
    } as unknown as Queue,
  } as Env;
}

const ONLY_OLD = ringEnv(OLD);
const NEW_AFTER = ringEnv(`${OLD},${NEW}`);
const NEW_FIRST = ringEnv(`${NEW},${OLD}`);
const ONLY_NEW = ringEnv(NEW);

async function call(
  on: Env,
  path: string,
  init: { method?: string; token?: string; body?: string; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json", ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`${BASE}${path}`, { method: init.method ?? "GET", headers, body: init.body ?? null }),
    on,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return res;
}

function newWebhookSecret(): string {
  return `whsec_${btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))}`;
}

interface Tenant extends TestConnection {
  webhookSecret: string;
}

async function tenant(): Promise<Tenant> {
  const connection = await newConnection();
  const webhookSecret = newWebhookSecret();
  const res = await call(ONLY_OLD, `/api/v1/admin/connections/${connection.connectionId}/webhook-secret`, {
    method: "PUT",
    token: env.ADMIN_TOKEN,
    body: JSON.stringify({ secret: webhookSecret }),
  });
  expect(res.status).toBe(204);
  return { ...connection, webhookSecret };
}

/** Forgets the session's access token, so the next call to Acme opens the client secret again. */
async function dropAccessToken(connectionId: string): Promise<void> {
  const session = acmeSessionStub(env, connectionId);
  const grant = await session.acquireToken();
  if (grant.kind === "token") await session.invalidateToken(grant.accessToken);
  else await session.releaseLease(grant.leaseId);
}

/**
 * One round of a tenant's traffic through `on`: a contact written at Acme (a token exchange, so
 * the client secret is opened), every other round a new webhook secret stored (sealed with the
 * ring's current key), and a signed webhook received (the webhook secret opened from D1).
 */
async function round(on: Env, t: Tenant, n: number): Promise<void> {
  await dropAccessToken(t.connectionId);
  const created = await call(on, "/api/v1/contacts", {
    method: "POST",
    token: t.apiKey,
    body: JSON.stringify(person()),
  });
  expect(created.status, await created.clone().text()).toBe(201);
  if (n % 2 === 0) {
    const secret = newWebhookSecret();
    const stored = await call(on, `/api/v1/admin/connections/${t.connectionId}/webhook-secret`, {
      method: "PUT",
      token: env.ADMIN_TOKEN,
      body: JSON.stringify({ secret }),
    });
    expect(stored.status).toBe(204);
    t.webhookSecret = secret;
  }
  forgetWebhookSecret(t.connectionId);
  const body = eventBody("contact.created", acmeContact(`ct_rot_${n}`, 1));
  const id = `msg_rot_${crypto.randomUUID()}`;
  const at = new Date();
  const res = await call(on, `/webhooks/acme/${t.connectionId}`, {
    method: "POST",
    body,
    headers: {
      "webhook-id": id,
      "webhook-timestamp": String(Math.floor(at.getTime() / 1000)),
      "webhook-signature": new Webhook(t.webhookSecret).sign(id, at, body),
    },
  });
  expect(res.status).toBe(202);
}

/** `rounds` rounds per tenant, tenants side by side, each round through the next of `isolates`. */
async function traffic(isolates: Env[], tenants: Tenant[], rounds: number): Promise<void> {
  await Promise.all(
    tenants.map(async (t, index) => {
      for (let n = 0; n < rounds; n++) await round(isolates[(n + index) % isolates.length] as Env, t, n);
    }),
  );
}

interface ResealReport {
  resealed: number;
  unreadable: number;
  remaining: number;
  next: string | null;
  keyId: string;
}

async function reseal(on: Env, query: string): Promise<ResealReport> {
  const res = await call(on, `/api/v1/admin/encryption/reseal${query}`, {
    method: "POST",
    token: env.ADMIN_TOKEN,
  });
  expect(res.status).toBe(200);
  return res.json<ResealReport>();
}

/** Re-seal calls of `limit` rows, each going on after the last, until the scan is done. */
async function resealAll(on: Env, limit = 7): Promise<ResealReport[]> {
  const reports: ResealReport[] = [];
  let after: string | null = null;
  do {
    const report = await reseal(on, `?limit=${limit}${after ? `&after=${encodeURIComponent(after)}` : ""}`);
    reports.push(report);
    after = report.next;
  } while (after !== null);
  return reports;
}

/** How many connection rows hold a value sealed with the key of this id, or in the format before key ids. */
async function rowsSealedWith(keyId: string): Promise<{ withKey: number; legacy: number }> {
  const prefix = `v2.${keyId}.`;
  const row = await env.DB.prepare(
    `SELECT
       sum(substr(acme_client_secret_enc, 1, 12) = ?1 OR coalesce(substr(webhook_secret_enc, 1, 12) = ?1, 0)) AS withKey,
       sum(substr(acme_client_secret_enc, 1, 3) = 'v1.' OR coalesce(substr(webhook_secret_enc, 1, 3) = 'v1.', 0)) AS legacy
     FROM connections`,
  )
    .bind(prefix)
    .first<{ withKey: number | null; legacy: number | null }>();
  return { withKey: row?.withKey ?? 0, legacy: row?.legacy ?? 0 };
}

async function sealedSecrets(connectionId: string) {
  const row = await env.DB.prepare(
    "SELECT acme_client_secret_enc AS client, webhook_secret_enc AS webhook FROM connections WHERE id = ?",
  )
    .bind(connectionId)
    .first<{ client: string; webhook: string }>();
  if (!row) throw new Error(`no connection ${connectionId}`);
  return row;
}

/** `plaintext` in the format before key ids (`v1.<iv>.<ciphertext>`), as rows written before rings hold it. */
async function sealV1(key: string, plaintext: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const aes = await crypto.subtle.importKey("raw", fromBase64Url(key), "AES-GCM", false, ["encrypt"]);
  const data = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(context) },
    aes,
    new TextEncoder().encode(plaintext),
  );
  return `v1.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(data))}`;
}

// Other files in this worker share the database: leave every row sealed with the run's key again.
afterAll(async () => {
  await resealAll(NEW_AFTER, 50);
});

describe("ENCRYPTION_KEYS rotation", () => {
  it("rotates under traffic: no request fails, the re-seal leaves nothing on the old key, and the old key can go", async () => {
    const tenants = [await tenant(), await tenant()];
    // One connection's client secret as written before sealed values named their key.
    const [legacy] = tenants as [Tenant, Tenant];
    const clientSecret = await loadIntegrationConfig(ONLY_OLD).secretKeys.open(
      (await sealedSecrets(legacy.connectionId)).client,
      legacy.connectionId,
    );
    await env.DB.prepare("UPDATE connections SET acme_client_secret_enc = ? WHERE id = ?")
      .bind(await sealV1(OLD, clientSecret, legacy.connectionId), legacy.connectionId)
      .run();
    const [oldId, newId] = await Promise.all([secretKeyId(OLD), secretKeyId(NEW)]);

    // 1. The new key goes in after the current one, isolate by isolate: nothing seals with it yet.
    await traffic([ONLY_OLD, NEW_AFTER], tenants, 3);
    // 2. The new key goes first, isolate by isolate: values sealed with either key open everywhere.
    await traffic([NEW_AFTER, NEW_FIRST], tenants, 4);
    // 3. Every isolate seals with the new key; the re-seal runs beside the traffic.
    const [, during] = await Promise.all([traffic([NEW_FIRST], tenants, 4), resealAll(NEW_FIRST)]);
    expect(during.at(-1)?.keyId).toBe(newId);
    const after = await resealAll(NEW_FIRST);
    expect(after.every((report) => report.resealed === 0)).toBe(true);
    expect(await rowsSealedWith(oldId)).toEqual({ withKey: 0, legacy: 0 });
    for (const t of tenants) {
      const sealed = await sealedSecrets(t.connectionId);
      expect(sealed.client.startsWith(`v2.${newId}.`)).toBe(true);
      expect(sealed.webhook.startsWith(`v2.${newId}.`)).toBe(true);
    }

    // 4. The old key is dropped, isolate by isolate: everything still opens. A changed secret
    // deploys a new version, so isolates without the old key start with nothing cached; here the
    // "isolates" share this module's caches, so they forget the rows read before the re-seal.
    for (const t of tenants) forgetApiKey(await sha256Hex(t.apiKey));
    await traffic([NEW_FIRST, ONLY_NEW], tenants, 3);
    const onlyNew = loadIntegrationConfig(ONLY_NEW).secretKeys;
    expect(await onlyNew.open((await sealedSecrets(legacy.connectionId)).client, legacy.connectionId)).toBe(
      clientSecret,
    );
    expect(received.length).toBeGreaterThanOrEqual(tenants.length * 14);
  });

  it("re-seals the client secret when the row's webhook secret is written", async () => {
    const t = await tenant();
    const { client: before } = await sealedSecrets(t.connectionId);
    const stored = await call(NEW_FIRST, `/api/v1/admin/connections/${t.connectionId}/webhook-secret`, {
      method: "PUT",
      token: env.ADMIN_TOKEN,
      body: JSON.stringify({ secret: newWebhookSecret() }),
    });
    expect(stored.status).toBe(204);
    const after = await sealedSecrets(t.connectionId);
    const prefix = `v2.${await secretKeyId(NEW)}.`;
    expect(before.startsWith(prefix)).toBe(false);
    expect(after.client.startsWith(prefix) && after.webhook.startsWith(prefix)).toBe(true);
    const ring = loadIntegrationConfig(NEW_FIRST).secretKeys;
    expect(await ring.open(after.client, t.connectionId)).toBe(await ring.open(before, t.connectionId));
  });

  it("counts a value no key of the ring opens as unreadable and leaves it as it is", async () => {
    const t = await tenant();
    const stranger = await new SecretKeyRing([randomSecret(32)]).seal("lost", t.connectionId);
    const { client } = await sealedSecrets(t.connectionId);
    await env.DB.prepare("UPDATE connections SET acme_client_secret_enc = ? WHERE id = ?")
      .bind(stranger, t.connectionId)
      .run();
    try {
      // Ids sort by creation, and the id without its tag sorts just before it.
      const report = await reseal(NEW_FIRST, `?limit=1&after=${t.connectionId.slice(0, -12)}`);
      expect(report).toMatchObject({ resealed: 0, unreadable: 1, next: t.connectionId });
      expect(report.remaining).toBeGreaterThanOrEqual(1);
      expect((await sealedSecrets(t.connectionId)).client).toBe(stranger);
    } finally {
      await env.DB.prepare("UPDATE connections SET acme_client_secret_enc = ? WHERE id = ?")
        .bind(client, t.connectionId)
        .run();
    }
  });

  it("needs the admin token and a limit of 1 to 50", async () => {
    const t = await tenant();
    await expectProblem(
      await call(NEW_FIRST, "/api/v1/admin/encryption/reseal", { method: "POST", token: t.apiKey }),
      401,
      "unauthorized",
    );
    await expectProblem(
      await call(NEW_FIRST, "/api/v1/admin/encryption/reseal", { method: "POST" }),
      401,
      "unauthorized",
    );
    for (const limit of ["0", "51", "x", "1.5"]) {
      await expectProblem(
        await call(NEW_FIRST, `/api/v1/admin/encryption/reseal?limit=${limit}`, {
          method: "POST",
          token: env.ADMIN_TOKEN,
        }),
        400,
        "validation_failed",
      );
    }
  });
});
